// atrium-worker — the task queue's workers without a server (server/atrium_worker.hpp).

#include "server/atrium_worker.hpp"

int main(int argc, char** argv) { return atrium::server::run_atrium_worker(argc, argv); }
