/* Stand-in for proscenium-node, used only to test the .deb/SD-image pipeline before the real binary
 * exists: `init --data-dir D` writes D/master_key.key and prints 24 words; `run` sends sd_notify
 * READY=1 and WATCHDOG=1 every 10 s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
static void notify(const char *msg) {
    const char *path = getenv("NOTIFY_SOCKET"); if (!path) return;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0); struct sockaddr_un a = {0}; a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1); if (a.sun_path[0] == '@') a.sun_path[0] = 0;
    sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a); close(fd);
}
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "init") == 0) {
        const char *dir = argc > 3 ? argv[3] : "."; char p[512];
        mkdir(dir, 0700); snprintf(p, sizeof p, "%s/master_key.key", dir);
        FILE *f = fopen(p, "wx"); if (!f) { fprintf(stderr, "Error: %s exists\n", p); return 1; }
        fputs("stub\n", f); fclose(f);
        printf("Identity created in %s (STUB)\n\n", dir);
        for (int i = 1; i <= 24; i++) printf("%4d. stubword%-8d%s", i, i, i % 4 ? "" : "\n");
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "run") == 0) {
        notify("READY=1"); for (;;) { sleep(10); notify("WATCHDOG=1"); }
    }
    puts("proscenium-node (pipeline stub)"); return 0;
}
