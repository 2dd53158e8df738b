/*
 * alknet: the command-line tool.  token, fingerprint and keygen need no
 * daemon: they work on key files alone.  unlock, generate, lock and
 * status talk to alknet-secretd; call goes through the node's mount.  Neither keys nor tokens go to stderr;
 * a token or a new mnemonic goes to stdout only because it was asked
 * for.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libssh/libssh.h>
#include <sodium.h>

#include "authkeys.h"
#include "keyfile.h"
#include "log.h"
#include "secretd_client.h"
#include "token.h"

#define CALL_MOUNT    "/run/alknet"
#define CALL_READ_MAX (16 * 1024 * 1024) /* bytes of an answer */

#define COMMENT_CHARS                                                          \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-"

struct command {
	const char *name;
	void (*fn)(const struct command *c, int argc, char **argv);
	const char *usage;   /* what follows "alknet NAME" */
	const char *summary; /* one line for the command list */
	const char *help;    /* the rest of "alknet NAME --help" */
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	char    msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_info("error: %s", msg);
	exit(1);
}

static void
command_usage(const struct command *c)
{
	printf("usage: alknet %s %s\n\n%s", c->name, c->usage, c->help);
}

/*
 * The next flag of c's command line (argv[0] is the command's name), as
 * getopt_long returns it.  --help and -h print the command's help and
 * exit; a flag that is unknown or lacks its value ends the program.
 */
static int
command_flag(const struct command *c, int argc, char **argv,
    const struct option *longopts)
{
	int ch;

	opterr = 0;
	ch = getopt_long(argc, argv, ":h", longopts, NULL);
	switch (ch) {
	case 'h':
		command_usage(c);
		exit(0);
	case ':':
		die("option %s needs a value", argv[optind - 1]);
	case '?':
		if (optopt != 0 && strncmp(argv[optind - 1], "--", 2) == 0)
			die("option %s takes no value", argv[optind - 1]);
		die("unknown option %s (see alknet %s --help)",
		    argv[optind - 1], c->name);
	}
	return ch;
}

/* Ends the program unless exactly one operand is left; returns it. */
static const char *
command_operand(const struct command *c, int argc, char **argv)
{
	if (optind == argc)
		die("missing argument: alknet %s %s", c->name, c->usage);
	if (optind + 1 < argc)
		die("unexpected argument %s (see alknet %s --help)",
		    argv[optind + 1], c->name);
	return argv[optind];
}

/* The one operand of a command whose only flag is --help. */
static const char *
command_file(const struct command *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	while (command_flag(c, argc, argv, longopts) != -1)
		;
	return command_operand(c, argc, argv);
}

/* A reader of SSH wire data: big-endian u32 and length-prefixed strings. */
struct wire {
	const unsigned char *p;
	size_t               left;
};

static int
wire_u32(struct wire *w, uint32_t *v)
{
	if (w->left < 4)
		return -EINVAL;
	*v = (uint32_t)w->p[0] << 24 | (uint32_t)w->p[1] << 16 |
	    (uint32_t)w->p[2] << 8 | w->p[3];
	w->p += 4;
	w->left -= 4;
	return 0;
}

static int
wire_string(struct wire *w, struct wire *s)
{
	uint32_t len;

	if (wire_u32(w, &len) != 0 || len > w->left)
		return -EINVAL;
	s->p = w->p;
	s->left = len;
	w->p += len;
	w->left -= len;
	return 0;
}

/* Reads a string that must be want. */
static int
wire_expect(struct wire *w, const char *want)
{
	struct wire s;

	if (wire_string(w, &s) != 0 || s.left != strlen(want) ||
	    memcmp(s.p, want, s.left) != 0)
		return -EINVAL;
	return 0;
}

/*
 * The Ed25519 secret key (seed, then public key) out of an unencrypted
 * openssh-key-v1 blob holding one key.  The check bytes must agree and
 * the public half must be the one the seed gives.
 */
static int
secret_from_blob(const unsigned char *p, size_t len, unsigned char sk[64])
{
	static const char magic[] = "openssh-key-v1"; /* the NUL included */
	struct wire       w = {p, len}, skip, priv, pub, sec;
	unsigned char     pk[32], check[64];
	uint32_t          nkeys, c1, c2;
	int               rc = -EINVAL;

	if (len < sizeof magic || memcmp(p, magic, sizeof magic) != 0)
		return -EINVAL;
	w.p += sizeof magic;
	w.left -= sizeof magic;
	if (wire_expect(&w, "none") != 0 || wire_expect(&w, "none") != 0 ||
	    wire_string(&w, &skip) != 0 || wire_u32(&w, &nkeys) != 0 ||
	    nkeys != 1 || wire_string(&w, &skip) != 0 ||
	    wire_string(&w, &priv) != 0)
		return -EINVAL;

	if (wire_u32(&priv, &c1) != 0 || wire_u32(&priv, &c2) != 0 ||
	    c1 != c2 || wire_expect(&priv, "ssh-ed25519") != 0 ||
	    wire_string(&priv, &pub) != 0 || pub.left != 32 ||
	    wire_string(&priv, &sec) != 0 || sec.left != 64)
		return -EINVAL;

	crypto_sign_seed_keypair(pk, check, sec.p);
	if (sodium_memcmp(pk, pub.p, 32) == 0 &&
	    sodium_memcmp(check, sec.p, 64) == 0) {
		memcpy(sk, sec.p, 64);
		rc = 0;
	}
	sodium_memzero(check, sizeof check);
	return rc;
}

/*
 * The secret key of key.  libssh 0.10 hands out no key bytes, so they
 * are read back from its own unencrypted OpenSSH export of the key.
 */
static int
secret_from_key(const ssh_key key, unsigned char sk[64])
{
	static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
	char             *text = NULL, *end;
	unsigned char    *bin = NULL;
	size_t            len, binlen;
	int               rc = -EINVAL;

	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &text) !=
	    SSH_OK)
		return -EINVAL;
	len = strlen(text);
	if (strncmp(text, begin, sizeof begin - 1) != 0 ||
	    (end = strstr(text, "-----END ")) == NULL)
		goto out;
	if ((bin = malloc(len)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (sodium_base642bin(bin, len, text + sizeof begin - 1,
	        (size_t)(end - text) - (sizeof begin - 1), "\r\n", &binlen,
	        NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		goto out;
	rc = secret_from_blob(bin, binlen, sk);

out:
	if (bin != NULL) {
		sodium_memzero(bin, len);
		free(bin);
	}
	sodium_memzero(text, len);
	ssh_string_free_char(text);
	return rc;
}

/* time(2) may read a coarse clock that lags the one peers compare with. */
static uint64_t
clock_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
		die("cannot read the clock");
	return (uint64_t)ts.tv_sec;
}

/* Unix seconds: decimal digits only. */
static uint64_t
parse_time(const char *s)
{
	unsigned long long v;
	char              *end;

	if (*s < '0' || *s > '9')
		die("bad --time %s: want unix seconds", s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		die("bad --time %s: want unix seconds", s);
	return (uint64_t)v;
}

static void
cmd_token(const struct command *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"time", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned char sk[64];
	const char   *path;
	uint64_t      now = clock_now();
	ssh_key       key = NULL;
	char          tok[TOKEN_LEN + 1], err[512];
	int           ch, rc;

	while ((ch = command_flag(c, argc, argv, longopts)) != -1) {
		if (ch == 't')
			now = parse_time(optarg);
	}
	path = command_operand(c, argc, argv);

	if (keyfile_load(path, "private key", &key, err, sizeof err) != 0)
		die("%s", err);
	rc = secret_from_key(key, sk);
	ssh_key_free(key);
	if (rc != 0)
		die("cannot take the Ed25519 key out of %s", path);

	rc = token_mint(sk, now, tok, sizeof tok);
	sodium_memzero(sk, sizeof sk);
	if (rc != 0)
		die("cannot make a token: %s", strerror(-rc));
	printf("%s\n", tok);
}

/* Whether path holds a PEM-style private key rather than public keys. */
static int
is_private_key(const char *path)
{
	static const char begin[] = "-----BEGIN ";
	char              head[sizeof begin - 1];
	ssize_t           n;
	int               fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die("cannot read %s: %s", path, strerror(errno));
	n = read(fd, head, sizeof head);
	close(fd);
	return n == (ssize_t)sizeof head && memcmp(head, begin, n) == 0;
}

static void
fingerprint_private(const char *path)
{
	ssh_key key = NULL;
	char    fp[128], err[512];
	int     rc;

	if (keyfile_load(path, "private key", &key, err, sizeof err) != 0)
		die("%s", err);
	rc = authkeys_fingerprint(key, fp, sizeof fp);
	ssh_key_free(key);
	if (rc != 0)
		die("cannot fingerprint the key in %s", path);
	printf("%s\n", fp);
}

static void
fingerprint_public(const char *path)
{
	struct authkeys    *ak = NULL;
	struct authkey_info info;
	unsigned            skipped = 0;
	size_t              i, n;
	char                err[512];

	if (authkeys_load(path, &ak, &skipped, err, sizeof err) != 0)
		die("cannot read %s", err);
	if ((n = authkeys_count(ak)) == 0) {
		authkeys_free(ak);
		die("%s holds no public key", path);
	}
	for (i = 0; i < n; i++) {
		authkeys_get(ak, i, &info);
		printf("%s\n", info.id);
	}
	authkeys_free(ak);

	/* Such a line may hold a key that ssh-keygen would still show. */
	if (skipped > 0)
		log_info("%u line%s of %s not read: not a key, or options "
		         "alknet does not take",
		    skipped, skipped == 1 ? "" : "s", path);
}

static void
cmd_fingerprint(const struct command *c, int argc, char **argv)
{
	const char *path = command_file(c, argc, argv);

	if (is_private_key(path))
		fingerprint_private(path);
	else
		fingerprint_public(path);
}

/* Creates path with mode and writes text, or removes it again. */
static int
write_new(
    const char *path, mode_t mode, const char *text, char *err, size_t errlen)
{
	size_t len = strlen(text);
	int    fd, rc = 0;

	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1) {
		rc = -errno;
		snprintf(
		    err, errlen, "cannot create %s: %s", path, strerror(errno));
		return rc;
	}
	errno = 0; /* a short write sets none */
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) == -1)
		rc = errno != 0 ? -errno : -EIO;
	if (close(fd) == -1 && rc == 0)
		rc = -errno;
	if (rc != 0) {
		snprintf(
		    err, errlen, "cannot write %s: %s", path, strerror(-rc));
		unlink(path);
	}
	return rc;
}

/* "user@host", as ssh-keygen names a new key; "" when unknown. */
static void
key_comment(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());
	char           host[256];
	int            n;

	buf[0] = '\0';
	if (pw == NULL || gethostname(host, sizeof host) != 0)
		return;
	host[sizeof host - 1] = '\0';
	n = snprintf(buf, len, "%s@%s", pw->pw_name, host);

	/* The comment may become a directory name on a head. */
	if (n < 0 || (size_t)n >= len ||
	    strspn(buf, COMMENT_CHARS) != (size_t)n)
		buf[0] = '\0';
}

/* Writes key to path (private) and pubpath; both or neither remain. */
static int
keygen_write(const ssh_key key, const char *path, const char *pubpath,
    char *err, size_t errlen)
{
	char *priv = NULL, *b64 = NULL, line[512], comment[128];
	int   rc = -ENOMEM;

	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv) !=
	        SSH_OK ||
	    ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		snprintf(err, errlen, "cannot encode the new key");
		goto out;
	}
	key_comment(comment, sizeof comment);
	snprintf(line, sizeof line, "ssh-ed25519 %s%s%s\n", b64,
	    *comment != '\0' ? " " : "", comment);

	if ((rc = write_new(path, 0600, priv, err, errlen)) != 0)
		goto out;
	if ((rc = write_new(pubpath, 0644, line, err, errlen)) != 0)
		unlink(path);

out:
	if (priv != NULL) {
		sodium_memzero(priv, strlen(priv));
		ssh_string_free_char(priv);
	}
	ssh_string_free_char(b64);
	return rc;
}

static void
cmd_keygen(const struct command *c, int argc, char **argv)
{
	const char *path = command_file(c, argc, argv);
	struct stat st;
	ssh_key     key = NULL;
	char        pubpath[4096], fp[128], err[1024];

	if ((size_t)snprintf(pubpath, sizeof pubpath, "%s.pub", path) >=
	    sizeof pubpath)
		die("file name too long: %s", path);
	if (lstat(path, &st) == 0)
		die("%s exists; not overwriting it", path);
	if (lstat(pubpath, &st) == 0)
		die("%s exists; not overwriting it", pubpath);

	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
		die("cannot generate a key");
	if (keygen_write(key, path, pubpath, err, sizeof err) != 0) {
		ssh_key_free(key);
		die("%s", err);
	}
	if (authkeys_fingerprint(key, fp, sizeof fp) == 0)
		printf("%s\n", fp);
	ssh_key_free(key);
}

/*
 * The commands that talk to alknet-secretd.  The mnemonic and
 * passphrase come from the terminal with echo off, or from a
 * descriptor a script hands over; never from argv or the environment,
 * which other users can read.
 */
struct secretd_opts {
	const char *socket;
	int         fd; /* -1: the terminal */
	long        words;
};

/* jansson's memory holds the mnemonic on its way: wipe it when freed. */
static void
json_wipe_free(void *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

static int
parse_fd(const char *s)
{
	long  v;
	char *end;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v > INT_MAX ||
	    fcntl((int)v, F_GETFD) == -1)
		die("--fd %s: not an open descriptor", s);
	return (int)v;
}

static long
parse_words(const char *s)
{
	if (strcmp(s, "12") != 0 && strcmp(s, "15") != 0 &&
	    strcmp(s, "18") != 0 && strcmp(s, "21") != 0 &&
	    strcmp(s, "24") != 0)
		die("--words %s: want 12, 15, 18, 21 or 24", s);
	return strtol(s, NULL, 10);
}

static void
secretd_options(const struct command *c, int argc, char **argv,
    const struct option *longopts, struct secretd_opts *o)
{
	int ch;

	o->socket = SECRETD_CLIENT_SOCKET;
	o->fd = -1;
	o->words = 24;
	while ((ch = command_flag(c, argc, argv, longopts)) != -1) {
		switch (ch) {
		case 's':
			o->socket = optarg;
			break;
		case 'f':
			o->fd = parse_fd(optarg);
			break;
		case 'w':
			o->words = parse_words(optarg);
			break;
		}
	}
	/* The argument may be the mnemonic typed in the wrong place. */
	if (optind < argc)
		die("alknet %s takes no arguments (see alknet %s --help)",
		    c->name, c->name);
	json_set_alloc_funcs(malloc, json_wipe_free);
}

/*
 * Calls op with input (taken over; NULL for none) on the daemon at path
 * and returns its output; any failure ends the program.
 */
static json_t *
secretd_call(const char *path, const char *op, json_t *input)
{
	struct secretd_client *sc = NULL;
	enum reply_code        code;
	json_t                *out = NULL;
	char                   msg[256];
	int                    rc;

	if ((rc = secretd_client_open(path, &sc)) != 0) {
		json_decref(input);
		die("cannot reach alknet-secretd at %s: %s", path,
		    strerror(-rc));
	}
	rc = secretd_client_call(sc, op, input, &out, &code, msg, sizeof msg);
	secretd_client_close(sc);
	json_decref(input);

	if (rc == -EREMOTEIO)
		die("%s", msg);
	if (rc != 0)
		die("alknet-secretd at %s: %s", path, strerror(-rc));
	return out;
}

static volatile sig_atomic_t tty_signal;

static void
on_tty_signal(int sig)
{
	tty_signal = sig;
}

/* Signals that end or stop the program end the read instead, so that
 * the terminal gets its echo back. */
static const int tty_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};

static void
tty_catch(struct sigaction *saved)
{
	struct sigaction sa;
	size_t           i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_tty_signal; /* no SA_RESTART: read returns */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof tty_signals / sizeof tty_signals[0]; i++)
		sigaction(tty_signals[i], &sa, &saved[i]);
}

static void
tty_release(const struct sigaction *saved)
{
	size_t i;

	for (i = 0; i < sizeof tty_signals / sizeof tty_signals[0]; i++)
		sigaction(tty_signals[i], &saved[i], NULL);
}

/* A line typed at the terminal after prompt, not echoed. */
static int
tty_read(const char *prompt, char *buf, size_t len)
{
	struct sigaction saved[sizeof tty_signals / sizeof tty_signals[0]];
	struct termios   old, quiet;
	int              fd, rc;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
		die("no terminal to read from: %s (see --fd)", strerror(errno));
	if (tcgetattr(fd, &old) != 0)
		die("/dev/tty: %s", strerror(errno));
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;

	tty_catch(saved);
	if (write(fd, prompt, strlen(prompt)) == -1 ||
	    tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
		rc = -errno;
	else
		rc = secretd_client_read_line(fd, buf, len);
	tcsetattr(fd, TCSAFLUSH, &old);
	tty_release(saved);
	close(fd);
	if (tty_signal != 0)
		die("interrupted");
	return rc;
}

/*
 * One secret line: from o's descriptor, or the terminal after prompt.
 * Returns its length, or -ENODATA when the descriptor has no more.
 */
static int
secret_read(const struct secretd_opts *o, const char *prompt, char *buf)
{
	int rc;

	if (o->fd != -1)
		rc = secretd_client_read_line(o->fd, buf, SECRETD_CLIENT_LINE);
	else
		rc = tty_read(prompt, buf, SECRETD_CLIENT_LINE);
	if (rc == -E2BIG)
		die("a line longer than %d bytes", SECRETD_CLIENT_LINE - 1);
	if (rc < 0 && rc != -ENODATA)
		die("cannot read: %s", strerror(-rc));
	return rc;
}

/* A buffer for a line of secret text, locked and wiped when freed. */
static char *
secret_line(void)
{
	char *p = sodium_malloc(SECRETD_CLIENT_LINE);

	if (p == NULL)
		die("out of memory");
	p[0] = '\0';
	return p;
}

/* The passphrase of a new mnemonic: typed twice at a terminal. */
static void
generate_passphrase(const struct secretd_opts *o, char *pass)
{
	char *again;
	int   same;

	if (secret_read(o, "passphrase (empty for none): ", pass) < 0)
		pass[0] = '\0';
	if (o->fd != -1)
		return;

	again = secret_line();
	if (secret_read(o, "the same passphrase again: ", again) < 0)
		again[0] = '\0';
	same = strcmp(pass, again) == 0;
	sodium_free(again);
	if (!same) {
		sodium_free(pass);
		die("the passphrases differ");
	}
}

static void
cmd_unlock(const struct command *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"fd", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct secretd_opts o;
	char               *words, *pass;
	json_t             *in;
	size_t              n;

	secretd_options(c, argc, argv, longopts, &o);
	words = secret_line();
	pass = secret_line();
	if (secret_read(&o, "mnemonic: ", words) < 0)
		words[0] = '\0';
	n = secretd_client_mnemonic(words);
	if (n > 0 && secret_read(&o, "passphrase (empty for none): ", pass) < 0)
		pass[0] = '\0';

	in = json_pack("{s:s,s:s}", "mnemonic", words, "passphrase", pass);
	sodium_free(words);
	sodium_free(pass);
	if (n == 0 || in == NULL) {
		json_decref(in);
		die(n == 0 ? "no mnemonic given" : "out of memory");
	}
	json_decref(secretd_call(o.socket, "unlock", in));
	printf("unlocked\n");
}

static void
cmd_generate(const struct command *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"words", required_argument, NULL, 'w'},
	    {"socket", required_argument, NULL, 's'},
	    {"fd", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct secretd_opts o;
	const char         *words;
	char               *pass;
	json_t             *in, *out;

	secretd_options(c, argc, argv, longopts, &o);
	pass = secret_line();
	generate_passphrase(&o, pass);
	in = json_pack(
	    "{s:I,s:s}", "words", (json_int_t)o.words, "passphrase", pass);
	sodium_free(pass);
	if (in == NULL)
		die("out of memory");

	out = secretd_call(o.socket, "generate", in);
	if ((words = json_string_value(json_object_get(out, "mnemonic"))) ==
	    NULL)
		die("alknet-secretd sent no mnemonic");
	printf("%s\n", words);
	json_decref(out);
}

/* lock and status: no input, and the state the daemon is left in. */
static void
cmd_state(const struct command *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct secretd_opts o;
	const char         *state;
	json_t             *out;

	secretd_options(c, argc, argv, longopts, &o);
	out = secretd_call(o.socket, c->name, NULL);
	if ((state = json_string_value(json_object_get(out, "state"))) == NULL)
		die("alknet-secretd sent no state");
	printf("%s\n", state);
	json_decref(out);
}

/* Whether op names an operation, not a way out of ops/. */
static int
call_name_ok(const char *op)
{
	const char *p = op + strspn(op, "/");
	size_t      n;

	if (*p == '\0' || strlen(op) > 255)
		return 0;
	for (; *p != '\0'; p += n + strspn(p + n, "/")) {
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.') ||
		    (p[n] == '/' && p[n + 1] == '/'))
			return 0;
	}
	return 1;
}

/*
 * Reads the answers on fd, one JSON line each (one for a call, one per
 * value of a subscription, as they come), and hands each to cb until it
 * returns nonzero.  Returns that, or 0 at the end of the answers.
 */
static int
call_lines(
    int fd, int (*cb)(const char *, char *, size_t), char *err, size_t errlen)
{
	char   *buf = NULL, *nb, *nl, *line;
	size_t  len = 0, cap = 0;
	ssize_t n;
	int     rc = 0;

	for (;;) {
		if (cap - len < 4096) {
			if (cap > CALL_READ_MAX ||
			    (nb = realloc(buf, cap + 65536)) == NULL) {
				free(buf);
				die("the answer is too long");
			}
			buf = nb;
			cap += 65536;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			die("cannot read the answer: %s", strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';

		line = buf;
		while (rc == 0 && (nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			rc = cb(line, err, errlen);
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
		if (rc != 0)
			break;
	}
	buf[len] = '\0';
	if (rc == 0 && len > 0)
		rc = cb(buf, err, errlen);
	free(buf);
	return rc;
}

/*
 * Prints the output of the answer text; returns 0, or -1 with why the
 * call failed in err.
 */
static int
call_answer(const char *text, char *err, size_t errlen)
{
	json_t *ans, *out, *e;
	char   *dump = NULL;

	snprintf(err, errlen, "the node sent no JSON answer");
	if ((ans = json_loads(text, 0, NULL)) == NULL)
		return -1;
	if ((e = json_object_get(ans, "error")) != NULL)
		snprintf(err, errlen, "%s: %s",
		    json_string_value(json_object_get(e, "code")),
		    json_string_value(json_object_get(e, "message")));
	else if ((out = json_object_get(ans, "output")) == NULL)
		snprintf(err, errlen, "the node's answer has no output");
	else if ((dump = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY)) ==
	    NULL)
		snprintf(err, errlen, "out of memory");
	json_decref(ans);
	if (dump == NULL)
		return -1;
	printf("%s\n", dump);
	fflush(stdout);
	free(dump);
	return 0;
}

/* Writes the input to DIR/ops/OP/call and reads the answer there. */
static void
cmd_call(const struct command *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"mount", required_argument, NULL, 'm'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char  *mount = CALL_MOUNT, *op, *input;
	char         path[PATH_MAX], err[1024];
	json_error_t jerr;
	json_t      *in;
	int          ch, fd, rc;

	while ((ch = command_flag(c, argc, argv, longopts)) != -1)
		mount = optarg;
	if (argc - optind != 2)
		die("expected OP and JSON: alknet %s %s", c->name, c->usage);
	op = argv[optind];
	input = argv[optind + 1];
	if (!call_name_ok(op))
		die("bad operation name %s", op);
	if ((in = json_loads(input, JSON_DECODE_ANY, &jerr)) == NULL)
		die("bad JSON input: %s", jerr.text);
	json_decref(in);

	snprintf(
	    path, sizeof path, "%s/ops/%s/call", mount, op + strspn(op, "/"));
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1 && errno == ENOENT)
		die("no operation %s at %s", op, mount);
	if (fd == -1)
		die("cannot open %s: %s", path, strerror(errno));
	if (write(fd, input, strlen(input)) != (ssize_t)strlen(input))
		die("cannot call %s: %s", op, strerror(errno));
	rc = call_lines(fd, call_answer, err, sizeof err);
	close(fd);
	if (rc != 0)
		die("%s", err);
}

static const struct command commands[] = {
    {"token", cmd_token, "KEYFILE [--time UNIX]",
        "print a token for an Ed25519 private key",
        "Prints a token that proves for 300 seconds either side of its\n"
        "time that the holder of KEYFILE (an unencrypted OpenSSH Ed25519\n"
        "private key) made it.  Whoever has the token may use it until\n"
        "then: treat it as a password.\n\n"
        "  --time UNIX   the time in the token, in unix seconds\n"
        "                (default: now)\n"},
    {"fingerprint", cmd_fingerprint, "FILE",
        "print the SHA256 fingerprint of each key in FILE",
        "FILE is a public key, an authorized_keys file or an OpenSSH\n"
        "Ed25519 private key.  Prints one \"SHA256:...\" line per key,\n"
        "as ssh-keygen -lf shows it; this is the key's identity id.\n"},
    {"keygen", cmd_keygen, "FILE",
        "write a new Ed25519 key to FILE and FILE.pub",
        "Writes a new Ed25519 private key in OpenSSH format, without a\n"
        "passphrase, to FILE (mode 0600) and its public key to FILE.pub,\n"
        "then prints its fingerprint.  Existing files are left alone.\n"},
    {"unlock", cmd_unlock, "[--socket PATH] [--fd N]",
        "give alknet-secretd its mnemonic",
        "Reads a BIP39 mnemonic, then its passphrase (empty for none),\n"
        "from the terminal without echo, and unlocks alknet-secretd\n"
        "with them.  Blanks between words and capitals do not matter.\n\n"
        "  --socket PATH the daemon's socket\n"
        "                (default " SECRETD_CLIENT_SOCKET ")\n"
        "  --fd N        read the two lines from descriptor N instead,\n"
        "                for scripts (a missing second line is an\n"
        "                empty passphrase)\n"},
    {"generate", cmd_generate, "[--words N] [--socket PATH] [--fd N]",
        "unlock alknet-secretd with a new mnemonic and print it",
        "Reads a passphrase (empty for none) from the terminal twice,\n"
        "without echo, has alknet-secretd make a new mnemonic from its\n"
        "random source and unlock with it, and prints the mnemonic.\n"
        "It is shown this once: write it down.  The mnemonic and the\n"
        "passphrase together give back every key.\n\n"
        "  --words N     12, 15, 18, 21 or 24 (default 24)\n"
        "  --socket PATH the daemon's socket\n"
        "                (default " SECRETD_CLIENT_SOCKET ")\n"
        "  --fd N        read the passphrase as one line from\n"
        "                descriptor N instead\n"},
    {"lock", cmd_state, "[--socket PATH]",
        "make alknet-secretd forget its seed",
        "Wipes the seed from alknet-secretd; it answers nothing but\n"
        "status, unlock and generate until unlocked again.  Prints\n"
        "\"locked\".\n\n"
        "  --socket PATH the daemon's socket\n"
        "                (default " SECRETD_CLIENT_SOCKET ")\n"},
    {"status", cmd_state, "[--socket PATH]",
        "print whether alknet-secretd is locked",
        "Prints \"locked\" or \"unlocked\".\n\n"
        "  --socket PATH the daemon's socket\n"
        "                (default " SECRETD_CLIENT_SOCKET ")\n"},
    {"call", cmd_call, "OP JSON [--mount DIR]", "call an operation of the node",
        "Calls the operation OP (\"/sessions/list\") with the input\n"
        "JSON through the node's mount, as the user running it, and\n"
        "prints the output as one line of JSON.  A subscription\n"
        "(\"/events/subscribe\") prints a line per value as it comes,\n"
        "until it ends or alknet is interrupted.  An error of the call\n"
        "goes to stderr as \"alknet: error: CODE: message\", with exit\n"
        "status 1.\n\n"
        "  --mount DIR   the node's mount (default " CALL_MOUNT ")\n"},
    {NULL, NULL, NULL, NULL, NULL},
};

static void
usage(FILE *f)
{
	const struct command *c;
	char                  line[128];

	fprintf(f,
	    "usage: alknet COMMAND [ARGS]\n"
	    "       alknet --help | --version\n\n"
	    "commands:\n");
	for (c = commands; c->name != NULL; c++) {
		snprintf(line, sizeof line, "%s %s", c->name, c->usage);
		fprintf(f, "  %-28s %s\n", line, c->summary);
	}
	fprintf(f, "\n'alknet COMMAND --help' describes one command.\n");
}

static const struct command *
command_find(const char *name)
{
	const struct command *c;

	for (c = commands; c->name != NULL; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	const struct command *c;

	log_init("alknet");
	if (argc < 2)
		die("no command given (see alknet --help)");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("alknet %s\n", ALKNET_VERSION);
		return 0;
	}
	if (argv[1][0] == '-')
		die("unknown option %s (see alknet --help)", argv[1]);
	if ((c = command_find(argv[1])) == NULL)
		die("unknown command %s (see alknet --help)", argv[1]);
	if (sodium_init() < 0)
		die("cannot initialise libsodium");

	c->fn(c, argc - 1, argv + 1);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("cannot write the output: %s", strerror(errno));
	return 0;
}
