/*
 * pam_twofa.so: a PAM authentication module over the twofa command line.
 *
 * It holds no account logic. It asks for the password and the verification code through the
 * PAM conversation and runs the installed `twofa` binary with them on its standard input
 * (never in argv or the environment), in a clean environment, with a time limit; the result is
 * twofa's exit code, mapped as shared/spec/pam.md says:
 *
 *   0 -> PAM_SUCCESS; 1, 2, 64, 65 -> PAM_AUTH_ERR; 3 -> PAM_MAXTRIES (and a PAM_ERROR_MSG
 *   saying when to retry); 4 -> PAM_USER_UNKNOWN; 70, 74, any other code, a signal, the time
 *   limit, or a binary that cannot be run -> PAM_AUTHINFO_UNAVAIL.
 *
 * It runs inside sshd, sudo and su, so: every allocation is freed; every copy of a secret is
 * wiped with explicit_bzero before it is freed; no signal handler or disposition of the caller
 * is changed (the secrets go to the child over a socket with MSG_NOSIGNAL, so a child that dies
 * early cannot raise SIGPIPE in the caller); the child gets its own process group, which is
 * killed with SIGKILL at the time limit, and the child is always reaped.
 *
 * Arguments: twofa=PATH db=PATH_OR_URI key_file=PATH mode=password|code use_first_pass
 * try_first_pass nullok echo_verification_code debug.
 *
 * Build: pam/build (cc -shared -fPIC -O2 -Wall -Wextra -Werror ... -lpam).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_AUTH
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#define DEFAULT_TWOFA "/usr/local/bin/twofa"
#define PASSWORD_PROMPT "Password: "
#define CODE_PROMPT "Verification code: "
#define TIME_LIMIT_MS 10000
#define OUTPUT_KEPT 4096 /* bytes of the child's stdout and stderr kept for parsing */
#define DETAIL_PART_MAX 128

/* twofa's exit codes (shared/spec/cli.md). */
enum {
    TWOFA_OK = 0,
    TWOFA_AUTH_FAILED = 1,
    TWOFA_CODE_NEEDED = 2,
    TWOFA_LOCKED = 3,
    TWOFA_NOT_FOUND = 4,
    TWOFA_USAGE = 64,
    TWOFA_INVALID = 65,
    TWOFA_INTERNAL = 70,
    TWOFA_STORAGE = 74,
};

/* What became of one run of twofa, besides its exit code. */
enum outcome { RAN, NOT_RUN, KILLED_BY_SIGNAL, TIMED_OUT };

struct options {
    const char *twofa;
    const char *db;
    const char *key_file;
    int code_mode;
    int use_first_pass;
    int try_first_pass;
    int nullok;
    int echo_code;
    int debug;
};

struct run {
    enum outcome outcome;
    int status;           /* the exit code when outcome == RAN, the signal when KILLED_BY_SIGNAL */
    char out[OUTPUT_KEPT]; /* the start of stdout, NUL-terminated */
    char err[OUTPUT_KEPT]; /* the start of stderr, NUL-terminated */
};

/* ---- secrets --------------------------------------------------------------------------- */

/* Wipes and frees a NUL-terminated secret the module owns; sets the pointer to NULL. */
static void drop_secret(char **secret) {
    if (*secret) {
        explicit_bzero(*secret, strlen(*secret));
        free(*secret);
        *secret = NULL;
    }
}

/* ---- arguments ------------------------------------------------------------------------- */

static int parse_options(pam_handle_t *pamh, int argc, const char **argv, struct options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->twofa = DEFAULT_TWOFA;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "twofa=", 6) == 0 && arg[6]) {
            opt->twofa = arg + 6;
        } else if (strncmp(arg, "db=", 3) == 0 && arg[3]) {
            opt->db = arg + 3;
        } else if (strncmp(arg, "key_file=", 9) == 0 && arg[9]) {
            opt->key_file = arg + 9;
        } else if (strcmp(arg, "mode=password") == 0) {
            opt->code_mode = 0;
        } else if (strcmp(arg, "mode=code") == 0) {
            opt->code_mode = 1;
        } else if (strcmp(arg, "use_first_pass") == 0) {
            opt->use_first_pass = 1;
        } else if (strcmp(arg, "try_first_pass") == 0) {
            opt->try_first_pass = 1;
        } else if (strcmp(arg, "nullok") == 0) {
            opt->nullok = 1;
        } else if (strcmp(arg, "echo_verification_code") == 0) {
            opt->echo_code = 1;
        } else if (strcmp(arg, "debug") == 0) {
            opt->debug = 1;
        } else {
            pam_syslog(pamh, LOG_ERR, "unknown option: %s", arg);
            return -1;
        }
    }
    if (opt->db && opt->db[0] == '-') {
        pam_syslog(pamh, LOG_ERR, "db= must not start with '-'");
        return -1;
    }
    return 0;
}

/* ---- the child ------------------------------------------------------------------------- */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what is there from fd into buf (keeping at most size-1 bytes, NUL-terminated, the rest
 * read and dropped). Returns 0 at end of file or on an error, 1 while the fd stays open. */
static int drain(int fd, char *buf, size_t size, size_t *used) {
    char scratch[1024];
    ssize_t n = read(fd, scratch, sizeof scratch);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (n <= 0) return 0;
    size_t room = size - 1 - *used;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(buf + *used, scratch, take);
    *used += take;
    buf[*used] = '\0';
    explicit_bzero(scratch, sizeof scratch);
    return 1;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_child(int in, int out, int err, const char *path, char *const argv[], char *const envp[]) {
    setpgid(0, 0);
    /* Move the three ends above 2 first, so that no dup2 below overwrites another. */
    int fds[3] = {in, out, err};
    for (int i = 0; i < 3; i++) {
        fds[i] = fcntl(fds[i], F_DUPFD, 3);
        if (fds[i] < 0) _exit(127);
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(fds[i], i) < 0) _exit(127);
    }
    /* Nothing else of the caller's (sshd's sockets, sudo's files) reaches twofa. */
    if (close_range(3, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536) max = 65536;
        for (int fd = 3; fd < max; fd++) close(fd);
    }
    /* The caller's ignored signals and blocked mask are not twofa's. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
    _exit(127);
}

/*
 * Runs twofa with argv (argv[0] is the path) and `input` on its stdin, in the clean environment
 * envp, for at most TIME_LIMIT_MS. Fills r. The input is the caller's to wipe.
 */
static void run_twofa(pam_handle_t *pamh, const struct options *opt, char *const argv[], char *const envp[],
                      const char *input, struct run *r) {
    memset(r, 0, sizeof *r);
    r->outcome = NOT_RUN;
    if (access(opt->twofa, X_OK) != 0) {
        pam_syslog(pamh, LOG_ERR, "cannot run %s: %m", opt->twofa);
        return;
    }

    /* stdin is one end of a socket pair: send(MSG_NOSIGNAL) to a child that died is EPIPE, not
     * SIGPIPE, without touching the caller's signal dispositions or mask. */
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0) {
        pam_syslog(pamh, LOG_ERR, "cannot make pipes: %m");
        goto close_all;
    }
    pid_t pid = fork();
    if (pid < 0) {
        pam_syslog(pamh, LOG_ERR, "fork: %m");
        goto close_all;
    }
    if (pid == 0) exec_child(in[1], out[1], err[1], opt->twofa, argv, envp);
    setpgid(pid, pid); /* also here, so that the group exists before any kill below */
    close(in[1]);
    close(out[1]);
    close(err[1]);
    in[1] = out[1] = err[1] = -1;
    fcntl(in[0], F_SETFL, O_NONBLOCK);

    size_t to_send = strlen(input), sent = 0, out_used = 0, err_used = 0;
    if (to_send == 0) {
        shutdown(in[0], SHUT_WR);
    }
    int out_open = 1, err_open = 1, in_open = to_send > 0;
    long long deadline = now_ms() + TIME_LIMIT_MS;
    int timed_out = 0;

    /* Feed stdin and read stdout and stderr until both are closed, or the time is up. */
    while (out_open || err_open || in_open) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p[3];
        int n = 0, at_in = -1, at_out = -1, at_err = -1;
        if (in_open) { at_in = n; p[n].fd = in[0]; p[n].events = POLLOUT; n++; }
        if (out_open) { at_out = n; p[n].fd = out[0]; p[n].events = POLLIN; n++; }
        if (err_open) { at_err = n; p[n].fd = err[0]; p[n].events = POLLIN; n++; }
        int ready = poll(p, (nfds_t)n, (int)left);
        if (ready < 0) {
            if (errno == EINTR) continue;
            pam_syslog(pamh, LOG_ERR, "poll: %m");
            timed_out = 1; /* treated as a fault: kill and reap below */
            break;
        }
        if (at_in >= 0 && p[at_in].revents) {
            ssize_t w = send(in[0], input + sent, to_send - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) sent += (size_t)w;
            if ((w < 0 && errno != EINTR && errno != EAGAIN) || sent == to_send) {
                shutdown(in[0], SHUT_WR); /* end of input (or the child is gone) */
                in_open = 0;
            }
        }
        if (at_out >= 0 && p[at_out].revents) out_open = drain(out[0], r->out, sizeof r->out, &out_used);
        if (at_err >= 0 && p[at_err].revents) err_open = drain(err[0], r->err, sizeof r->err, &err_used);
    }

    /* Wait for the exit, within what is left of the time limit. The exited child stays a zombie
     * (WNOWAIT) while its group is killed, so that its pid, the group's id, is not reused. */
    siginfo_t info;
    int exited = 0;
    while (!timed_out) {
        memset(&info, 0, sizeof info);
        int w = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) break; /* ECHILD: the caller reaps children itself (SIGCHLD ignored) */
        if (info.si_pid == pid) {
            exited = 1;
            break;
        }
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        poll(NULL, 0, left < 20 ? (int)left : 20);
    }
    /* The time limit, or whatever twofa left behind in its group. Only while the group's id is
     * known to be ours: the child still running, or its zombie not yet reaped. */
    if (timed_out || exited) kill(-pid, SIGKILL);
    if (timed_out) kill(pid, SIGKILL);

    int status = 0;
    pid_t reaped;
    do {
        reaped = waitpid(pid, &status, 0);
    } while (reaped < 0 && errno == EINTR);

    if (timed_out) {
        r->outcome = TIMED_OUT;
        pam_syslog(pamh, LOG_ERR, "%s did not answer within %d s: killed", opt->twofa, TIME_LIMIT_MS / 1000);
    } else if (reaped != pid) {
        r->outcome = NOT_RUN;
        pam_syslog(pamh, LOG_ERR, "cannot learn how %s ended: %m", opt->twofa);
    } else if (WIFEXITED(status)) {
        r->outcome = RAN;
        r->status = WEXITSTATUS(status);
    } else {
        r->outcome = KILLED_BY_SIGNAL;
        r->status = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        pam_syslog(pamh, LOG_ERR, "%s ended by signal %d", opt->twofa, r->status);
    }

close_all:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) close(in[i]);
        if (out[i] >= 0) close(out[i]);
        if (err[i] >= 0) close(err[i]);
    }
}

/* ---- twofa's answers ------------------------------------------------------------------- */

/* The value after "key": in a flat JSON text, or NULL. */
static const char *json_value(const char *text, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *at = strstr(text, quoted);
    if (!at) return NULL;
    at += strlen(quoted);
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++;
    if (*at != ':') return NULL;
    at++;
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') at++;
    return at;
}

/* retry_after from twofa's JSON error, or -1. */
static long retry_after(const char *err) {
    const char *v = json_value(err, "retry_after");
    if (!v || *v < '0' || *v > '9') return -1;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || n < 0) return -1;
    return n;
}

/* twofa's exit code as PAM's answer; says when to retry at a lockout. */
static int pam_result(pam_handle_t *pamh, const struct options *opt, int flags, const struct run *r) {
    if (r->outcome != RAN) return PAM_AUTHINFO_UNAVAIL;
    switch (r->status) {
    case TWOFA_OK:
        return PAM_SUCCESS;
    case TWOFA_AUTH_FAILED:
    case TWOFA_CODE_NEEDED:
    case TWOFA_USAGE:
    case TWOFA_INVALID:
        return PAM_AUTH_ERR;
    case TWOFA_LOCKED: {
        long seconds = retry_after(r->err);
        if (!(flags & PAM_SILENT)) {
            if (seconds >= 0)
                pam_error(pamh, "Too many failed attempts: this account is locked. Try again in %ld second%s.",
                          seconds, seconds == 1 ? "" : "s");
            else
                pam_error(pamh, "Too many failed attempts: this account is locked. Try again later.");
        }
        return PAM_MAXTRIES;
    }
    case TWOFA_NOT_FOUND:
        return PAM_USER_UNKNOWN;
    default: /* 70, 74, and anything twofa never answers (127: exec failed) */
        pam_syslog(pamh, LOG_ERR, "%s answered exit %d", opt->twofa, r->status);
        return PAM_AUTHINFO_UNAVAIL;
    }
}

static const char *outcome_name(const struct run *r) {
    switch (r->outcome) {
    case RAN: return "exit";
    case NOT_RUN: return "not run";
    case KILLED_BY_SIGNAL: return "signal";
    case TIMED_OUT: return "time-out";
    }
    return "?";
}

/* ---- the conversation ------------------------------------------------------------------ */

/* Asks with `prompt`; *answer is malloc'd (the caller wipes and frees it). */
static int ask(pam_handle_t *pamh, int echo, const char *prompt, char **answer) {
    *answer = NULL;
    int rc = pam_prompt(pamh, echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, answer, "%s", prompt);
    if (rc != PAM_SUCCESS) {
        drop_secret(answer);
        return rc;
    }
    if (*answer == NULL) return PAM_CONV_ERR;
    return PAM_SUCCESS;
}

/* ---- one attempt ------------------------------------------------------------------------ */

/* Everything one authentication needs besides the secrets: argv and environment buffers. */
struct context {
    pam_handle_t *pamh;
    const struct options *opt;
    int flags;
    const char *user;
    char detail[2 * DETAIL_PART_MAX + 32];
    char home[PATH_MAX + 8];
    char key_env[PATH_MAX + 32];
    char *envp[5];
};

/* A PAM item for the audit detail: at most DETAIL_PART_MAX bytes, no spaces or control
 * characters (twofa escapes what it stores; this keeps the detail's shape `k=v k=v`). */
static void detail_part(char *dst, size_t size, const char *src) {
    size_t n = 0;
    for (; src && *src && n + 1 < size && n < DETAIL_PART_MAX; src++) {
        unsigned char c = (unsigned char)*src;
        dst[n++] = (c <= ' ' || c == 0x7f) ? '?' : (char)c;
    }
    dst[n] = '\0';
}

static int make_context(struct context *c, pam_handle_t *pamh, const struct options *opt, int flags,
                        const char *user) {
    memset(c, 0, sizeof *c);
    c->pamh = pamh;
    c->opt = opt;
    c->flags = flags;
    c->user = user;

    const void *service = NULL, *rhost = NULL;
    pam_get_item(pamh, PAM_SERVICE, &service);
    pam_get_item(pamh, PAM_RHOST, &rhost);
    char s[DETAIL_PART_MAX + 1], h[DETAIL_PART_MAX + 1];
    detail_part(s, sizeof s, service);
    detail_part(h, sizeof h, rhost);
    snprintf(c->detail, sizeof c->detail, "pam service=%s rhost=%s", s, h);

    /* A clean environment: PATH, the HOME of the user this process runs as (twofa's default
     * database is under it when db= is not given), and TWOFA_KEY_FILE with key_file=. */
    int n = 0;
    c->envp[n++] = "PATH=/usr/bin:/bin";
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &found) == 0 && found && found->pw_dir &&
        found->pw_dir[0] == '/' && strlen(found->pw_dir) < PATH_MAX) {
        snprintf(c->home, sizeof c->home, "HOME=%s", found->pw_dir);
        c->envp[n++] = c->home;
    }
    if (opt->key_file) {
        if (strlen(opt->key_file) >= PATH_MAX) {
            pam_syslog(pamh, LOG_ERR, "key_file= is too long");
            return -1;
        }
        snprintf(c->key_env, sizeof c->key_env, "TWOFA_KEY_FILE=%s", opt->key_file);
        c->envp[n++] = c->key_env;
    }
    c->envp[n] = NULL;
    return 0;
}

/* argv for `twofa COMMAND [--db DB] FLAGS... USER`; `words` ends with NULL. */
static void make_argv(const struct context *c, const char *argv[16], const char *command, const char *const *words) {
    int n = 0;
    argv[n++] = c->opt->twofa;
    argv[n++] = command;
    if (c->opt->db) {
        argv[n++] = "--db";
        argv[n++] = c->opt->db;
    }
    for (; *words && n < 13; words++) argv[n++] = *words;
    argv[n++] = c->user;
    argv[n] = NULL;
}

static void run_command(const struct context *c, const char *command, const char *const *words, const char *input,
                        struct run *r) {
    const char *argv[16];
    make_argv(c, argv, command, words);
    run_twofa(c->pamh, c->opt, (char *const *)argv, c->envp, input, r);
    if (c->opt->debug)
        pam_syslog(c->pamh, LOG_DEBUG, "twofa %s for \"%s\": %s %d", command, c->user, outcome_name(r), r->status);
}

/* "a\n" or "a\nb\n" in a new buffer (the caller wipes and frees it), or NULL. */
static char *lines(const char *first, const char *second) {
    size_t a = strlen(first), b = second ? strlen(second) : 0;
    char *text = malloc(a + b + 3);
    if (!text) return NULL;
    memcpy(text, first, a);
    text[a] = '\n';
    size_t end = a + 1;
    if (second) {
        memcpy(text + end, second, b);
        text[end + b] = '\n';
        end += b + 1;
    }
    text[end] = '\0';
    return text;
}

/* A secret that is one line: no line break inside (twofa reads one line for each). */
static int one_line(const char *s) { return strpbrk(s, "\r\n") == NULL; }

/*
 * mode=password: `twofa login USER --password-stdin --json`; where that answers 2 (2FA on, code
 * needed), ask for the code and run `login --password-stdin --code-stdin --json` with both.
 */
static int login_with(struct context *c, const char *password, struct run *r) {
    if (!one_line(password)) return PAM_AUTH_ERR;
    char *input = lines(password, NULL);
    if (!input) return PAM_BUF_ERR;
    const char *password_only[] = {"--password-stdin", "--json", "--audit-detail", c->detail, NULL};
    run_command(c, "login", password_only, input, r);
    drop_secret(&input);
    if (r->outcome != RAN || r->status != TWOFA_CODE_NEEDED) return pam_result(c->pamh, c->opt, c->flags, r);

    char *code = NULL;
    int rc = ask(c->pamh, c->opt->echo_code, CODE_PROMPT, &code);
    if (rc != PAM_SUCCESS) return rc;
    if (!one_line(code)) {
        drop_secret(&code);
        return PAM_AUTH_ERR;
    }
    input = lines(password, code);
    drop_secret(&code);
    if (!input) return PAM_BUF_ERR;
    const char *with_code[] = {"--password-stdin", "--code-stdin", "--json", "--audit-detail", c->detail, NULL};
    run_command(c, "login", with_code, input, r);
    drop_secret(&input);
    return pam_result(c->pamh, c->opt, c->flags, r);
}

static int authenticate_password(struct context *c, struct run *r) {
    pam_handle_t *pamh = c->pamh;
    const struct options *opt = c->opt;
    const void *item = NULL;
    const char *first = NULL;

    if (opt->use_first_pass || opt->try_first_pass) {
        if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item) first = item;
        if (!first && opt->use_first_pass) {
            if (opt->debug) pam_syslog(pamh, LOG_DEBUG, "use_first_pass: no password from an earlier module");
            return PAM_AUTH_ERR;
        }
    }
    if (first) {
        int rc = login_with(c, first, r);
        /* try_first_pass: a first pass twofa refused is followed by a prompt, as in pam_unix. */
        if (!(rc == PAM_AUTH_ERR && opt->try_first_pass && !opt->use_first_pass && r->outcome == RAN &&
              r->status == TWOFA_AUTH_FAILED))
            return rc;
    }

    char *password = NULL;
    int rc = ask(pamh, 0, PASSWORD_PROMPT, &password);
    if (rc != PAM_SUCCESS) return rc;
    /* Later modules of the stack may take it with use_first_pass (libpam wipes its copy). */
    if (!first) pam_set_item(pamh, PAM_AUTHTOK, password);
    rc = login_with(c, password, r);
    drop_secret(&password);
    return rc;
}

/*
 * mode=code: `twofa show USER --json` gives the 2FA state (and whether twofa knows the user);
 * only a user whose 2FA is on is asked for the code, checked by `twofa verify USER --code-stdin`.
 * A user whose 2FA is off, or pending (not yet confirmed: verify would activate it and print
 * the backup codes to nobody), passes with nullok and fails without. A user unknown to twofa
 * fails, nullok or not.
 */
static int authenticate_code(struct context *c, struct run *r) {
    static const char *const show_words[] = {"--json", NULL};
    run_command(c, "show", show_words, "", r);
    if (r->outcome != RAN || r->status != TWOFA_OK) return pam_result(c->pamh, c->opt, c->flags, r);

    const char *state = json_value(r->out, "two_factor");
    if (!state) {
        pam_syslog(c->pamh, LOG_ERR, "twofa show gave no two_factor for \"%s\"", c->user);
        return PAM_AUTHINFO_UNAVAIL;
    }
    if (strncmp(state, "\"on\"", 4) != 0) {
        if (c->opt->debug)
            pam_syslog(c->pamh, LOG_DEBUG, "\"%s\" has no active 2FA: %s", c->user,
                       c->opt->nullok ? "nullok, passes" : "fails (no nullok)");
        return c->opt->nullok ? PAM_SUCCESS : PAM_AUTH_ERR;
    }

    char *code = NULL;
    int rc = ask(c->pamh, c->opt->echo_code, CODE_PROMPT, &code);
    if (rc != PAM_SUCCESS) return rc;
    if (!one_line(code)) {
        drop_secret(&code);
        return PAM_AUTH_ERR;
    }
    char *input = lines(code, NULL);
    drop_secret(&code);
    if (!input) return PAM_BUF_ERR;
    const char *words[] = {"--code-stdin", "--json", "--audit-detail", c->detail, NULL};
    run_command(c, "verify", words, input, r);
    drop_secret(&input);
    return pam_result(c->pamh, c->opt, c->flags, r);
}

/* ---- PAM's entry points ---------------------------------------------------------------- */

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    struct options opt;
    if (parse_options(pamh, argc, argv, &opt) != 0) return PAM_SERVICE_ERR;

    const char *user = NULL;
    int rc = pam_get_user(pamh, &user, NULL);
    if (rc != PAM_SUCCESS) return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : rc;
    /* twofa's names start with a letter or digit: anything else is no name of its own, and
     * never reaches its command line, where it would read as an option. */
    if (!user || !user[0] || user[0] == '-') return PAM_USER_UNKNOWN;
    if (opt.debug) pam_syslog(pamh, LOG_DEBUG, "%s mode for \"%s\"", opt.code_mode ? "code" : "password", user);

    struct context *c = malloc(sizeof *c);
    struct run *r = malloc(sizeof *r);
    if (!c || !r) {
        free(c);
        free(r);
        return PAM_BUF_ERR;
    }
    if (make_context(c, pamh, &opt, flags, user) != 0) {
        rc = PAM_SERVICE_ERR;
    } else {
        memset(r, 0, sizeof *r);
        rc = opt.code_mode ? authenticate_code(c, r) : authenticate_password(c, r);
    }
    explicit_bzero(r, sizeof *r);
    free(r);
    free(c);
    if (opt.debug) pam_syslog(pamh, LOG_DEBUG, "result for \"%s\": %s", user, pam_strerror(pamh, rc));
    return rc;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh, (void)flags, (void)argc, (void)argv;
    return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh, (void)flags, (void)argc, (void)argv;
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh, (void)flags, (void)argc, (void)argv;
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh, (void)flags, (void)argc, (void)argv;
    return PAM_IGNORE;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh, (void)flags, (void)argc, (void)argv;
    return PAM_IGNORE;
}
