/* main.c - pdpd's entry point; everything else is in the server module (srv.h). */
#include "srv.h"

int main(int argc, char **argv) {
  return srv_main(argc, argv);
}
