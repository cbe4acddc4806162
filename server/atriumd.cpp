// atriumd — the Atrium server process (server/atriumd_program.hpp).

#include "server/atriumd_program.hpp"

int main(int argc, char** argv) { return atrium::server::run_atriumd(argc, argv); }
