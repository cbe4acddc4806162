// atrium-mail-sender — delivers the mail outbox's maildir to an SMTP server
// (server/mail_sender.hpp).
//
//   atrium-mail-sender --maildir /var/spool/atrium/mail --smtp localhost:25 --once
//   atrium-mail-sender --maildir /var/spool/atrium/mail --smtp mail.example.com:587 --interval 30
//
// --once (the default) makes one pass and exits 0 if every message was
// delivered, 1 if some stay queued, 2 on a usage error. --interval S repeats a
// pass every S seconds until SIGINT/SIGTERM.

#include "server/mail_sender.hpp"
#include "transaction/logging.hpp"

#include <boost/program_options.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

namespace {

namespace po = boost::program_options;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop = true; }

/// "host:port", "[v6]:port" or "host" (port 25).
bool parse_host_port(const std::string& text, std::string& host, std::uint16_t& port) {
    std::string port_text = "25";
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos) return false;
        host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') return false;
            port_text = text.substr(close + 2);
        }
    } else {
        const auto colon = text.rfind(':');
        host = text.substr(0, colon);
        if (colon != std::string::npos) port_text = text.substr(colon + 1);
    }
    if (host.empty() || port_text.empty() || port_text.size() > 5) return false;
    for (const char c : port_text) {
        if (c < '0' || c > '9') return false;
    }
    const auto value = std::stoul(port_text);
    if (value == 0 || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string maildir;
    std::string smtp;
    double interval = 0;
    double timeout = 30;
    atrium::mail::delivery_options options;

    po::options_description description("atrium-mail-sender options");
    description.add_options()                                                            //
        ("help,h", "show this help")                                                     //
        ("maildir", po::value(&maildir)->required(), "the mail outbox's maildir")        //
        ("smtp", po::value(&smtp)->required(), "the SMTP server, HOST:PORT")             //
        ("once", "deliver what is queued and exit (the default)")                        //
        ("interval", po::value(&interval), "deliver every S seconds until SIGINT/SIGTERM")  //
        ("helo", po::value(&options.helo_name)->default_value("localhost"), "the EHLO name")  //
        ("timeout", po::value(&timeout)->default_value(30), "seconds to wait for the server");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, description), vm);
        if (vm.count("help")) {
            std::cout << "usage: atrium-mail-sender --maildir DIR --smtp HOST:PORT [--once | --interval S]\n\n"
                      << description;
            return exit_ok;
        }
        po::notify(vm);
        if (vm.count("once") && vm.count("interval")) throw po::error("--once and --interval exclude each other");
        if (vm.count("interval") && !(interval > 0)) throw po::error("--interval must be positive");
        if (!(timeout > 0)) throw po::error("--timeout must be positive");
    } catch (const po::error& error) {
        std::cerr << "atrium-mail-sender: " << error.what() << "\n";
        return exit_usage;
    }
    std::string host;
    std::uint16_t port = 25;
    if (!parse_host_port(smtp, host, port)) {
        std::cerr << "atrium-mail-sender: --smtp expects HOST:PORT, got \"" << smtp << "\"\n";
        return exit_usage;
    }
    options.timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));

    try {
        if (!vm.count("interval")) {
            const auto report = atrium::mail::deliver_maildir(maildir, host, port, options);
            std::cout << "atrium-mail-sender: " << report.delivered << " delivered, " << report.failures.size()
                      << " failed\n";
            for (const auto& failure : report.failures) {
                std::cout << "  " << failure.file.filename().string() << ": " << failure.error << "\n";
            }
            return report.ok() ? exit_ok : exit_failure;
        }
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        const auto period = std::chrono::milliseconds(static_cast<long long>(interval * 1000));
        while (!g_stop) {
            try {
                atrium::mail::deliver_maildir(maildir, host, port, options);
            } catch (const std::exception& error) {
                atrium::log_error(std::string("mail sender: pass failed: ") + error.what());
            }
            const auto next = std::chrono::steady_clock::now() + period;
            while (!g_stop && std::chrono::steady_clock::now() < next) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }
        return exit_ok;
    } catch (const std::exception& error) {
        std::cerr << "atrium-mail-sender: " << error.what() << "\n";
        return exit_failure;
    }
}
