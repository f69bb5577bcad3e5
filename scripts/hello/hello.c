/* The program inside berth's offline "hello-world" image. Built with `gcc -static -Os` by scripts/setup. */
#include <unistd.h>
#include <string.h>

static const char message[] =
    "\n"
    "Hello from a berth container!\n"
    "\n"
    "If you can read this, the whole chain worked:\n"
    "  1. The berth client sent your request to the berthd daemon over its API socket.\n"
    "  2. berthd fetched the \"hello-world\" image from a registry, layer by layer.\n"
    "  3. berthd made a container from that image and started this small program in it.\n"
    "  4. The program's output travelled back through berthd to your terminal.\n"
    "\n"
    "Next, open a shell in a tiny Linux userland:\n"
    "  berth run -it busybox sh\n"
    "\n"
    "The docker CLI works too: export DOCKER_HOST=unix:///run/berth/berth.sock\n"
    "\n";

int main(void) {
  size_t left = sizeof(message) - 1;
  const char *p = message;
  while (left > 0) {
    ssize_t n = write(1, p, left);
    if (n <= 0) return 1;
    p += n;
    left -= (size_t)n;
  }
  return 0;
}
