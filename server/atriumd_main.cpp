// atriumd — the Atrium server process (server/atriumd.hpp).

#include "server/atriumd.hpp"

int main(int argc, char** argv) { return atrium::server::run_atriumd(argc, argv); }
