/*
 * alknetd: the node daemon.  Wires the libraries together on one loop.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "channel.h"
#include "events.h"
#include "forward.h"
#include "identities.h"
#include "keys.h"
#include "listener.h"
#include "log.h"
#include "mount.h"
#include "node.h"
#include "ns.h"
#include "ops.h"
#include "penalty.h"
#include "persist.h"
#include "policy.h"
#include "rand.h"
#include "session.h"
#include "sshd.h"
#include "upstream.h"

#define DEFAULT_LISTEN    "127.0.0.1:2222"
#define DEFAULT_STATE_DIR "/var/lib/alknet"
#define DEFAULT_MOUNT     "/run/alknet"
#define MAX_LISTEN        16
#define MAX_CONNECT       16
#define MAX_FORWARDS      64
#define MAX_RULES         256
#define EVENTS_RETAIN     (4 * 1024 * 1024)
#define EVENTS_LAG_LINES  4096
#define LIMIT_COUNT_MAX   1000000
#define DEFAULT_AUTH_MAX  10

struct options {
	const char *listen[MAX_LISTEN];
	int         nlisten;
	const char *listen_raw[MAX_LISTEN];
	int         nraw;
	const char *state_dir;
	const char *host_key;
	const char *authkeys;
	const char *cas; /* --cert-authority */
	const char *mount;
	const char *name;
	int         no_mount;
	const char *secretd;     /* NULL: no secret daemon */
	const char *device_keys; /* how many keys/devices/ shows */
	unsigned    ndevices;    /* the same, checked */
	const char *rules[SSHD_NRULES][MAX_RULES];
	int         nrules[SSHD_NRULES];
	char       *rules_text[SSHD_NRULES]; /* the rules, checked */

	/* The worker side. */
	const char *connect[MAX_CONNECT];
	int         nconnect;
	const char *identity;
	const char *cert;
	const char *hostkey;
	const char *user;
	struct {
		enum forward_kind kind;
		const char       *spec;
	} forwards[MAX_FORWARDS];
	int nforwards;
};

struct daemon {
	uv_loop_t      *loop;
	struct sshd    *sshd;
	struct persist *persist;
	struct mount   *mount;
	uv_signal_t     sigterm;
	uv_signal_t     sigint;
	uv_signal_t     sighup;
	int             stopping;
};

static char path_host_key[4096];
static char path_authkeys[4096];

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
usage(FILE *f)
{
	fprintf(f,
	    "usage: alknetd [--listen HOST:PORT]... [--host-key FILE]\n"
	    "               [--authorized-keys FILE] [--state-dir DIR]\n"
	    "               [--mount DIR | --no-mount] [--name NAME]\n"
	    "               [--listen-raw HOST:PORT]... [OPTION]...\n"
	    "               [--connect URI --identity KEY [OPTION]...]...\n"
	    "\n"
	    "  --listen HOST:PORT     accept SSH peers here; repeatable,\n"
	    "                         port 0 picks a free port\n"
	    "                         (default " DEFAULT_LISTEN ")\n"
	    "  --host-key FILE        Ed25519 host key, OpenSSH format,\n"
	    "                         created if absent\n"
	    "                         (default STATE/host_ed25519_key)\n"
	    "  --authorized-keys FILE the peers let in, OpenSSH format\n"
	    "                         (default STATE/authorized_keys)\n"
	    "  --cert-authority FILE  trust every key in FILE to sign user\n"
	    "                         certificates (OpenSSH format)\n"
	    "  --listen-raw HOST:PORT accept call-protocol frames here, the\n"
	    "                         first one a token; repeatable\n"
	    "  --state-dir DIR        node state\n"
	    "                         (default " DEFAULT_STATE_DIR ")\n"
	    "  --mount DIR            where the namespace is mounted\n"
	    "                         (default " DEFAULT_MOUNT ")\n"
	    "  --no-mount             serve no namespace\n"
	    "  --name NAME            node name (default: the host name)\n"
	    "  --secretd SOCKET       take the host key and the node's\n"
	    "                         identity from alknet-secretd there\n"
	    "  --device-keys N        device keys shown in keys/devices\n"
	    "                         (default 4, at most 64)\n"
	    "  --forwarding-rule RULE where peers' channels may go, as in\n"
	    "                         acl/forwarding; repeatable, in order\n"
	    "                         (default: nowhere)\n"
	    "  --listen-rule RULE     which ports peers may open for remote\n"
	    "                         forwards, as in acl/listen; repeatable\n"
	    "                         (default: none)\n"
	    "  --max-connections-per-ip N\n"
	    "                         connections one address may hold\n"
	    "                         open (default 0: no limit)\n"
	    "  --max-auth-attempts N  failed logins before a connection\n"
	    "                         is closed (default 10, 0: no limit)\n"
	    "  --penalties SPEC       per-source penalties, as OpenSSH's\n"
	    "                         PerSourcePenalties, or \"no\"\n"
	    "                         (default authfail:5 noauth:1\n"
	    "                         grace-exceeded:10 max:600 min:15)\n"
	    "  --penalty-exempt CIDR[,CIDR...]\n"
	    "                         sources never penalized (default\n"
	    "                         none)\n"
	    "\n"
	    "As a worker, dialling heads:\n"
	    "  --connect URI          a head to dial (tcp://HOST:PORT);\n"
	    "                         repeatable; no listener is opened\n"
	    "                         unless --listen is given too\n"
	    "  --identity KEY         the Ed25519 private key to log in with\n"
	    "  --cert FILE            a certificate for that key\n"
	    "  --hostkey SHA256:...   the head's host key must be this one\n"
	    "  --user NAME            the SSH user name (default: $USER)\n"
	    "  --socks [BIND:]PORT    a SOCKS5 proxy through the head (-D)\n"
	    "  --forward [BIND:]PORT:HOST:PORT\n"
	    "                         a local forward through the head (-L)\n"
	    "  --remote-forward [BIND:]PORT:HOST:PORT\n"
	    "                         a port the head opens back to here\n"
	    "                         (-R), if its acl/listen allows it\n"
	    "\n"
	    "Environment: ALKNET_LISTEN, ALKNET_HOST_KEY,\n"
	    "ALKNET_AUTHORIZED_KEYS, ALKNET_CERT_AUTHORITY, ALKNET_STATE_DIR,\n"
	    "ALKNET_MOUNT, ALKNET_NAME, ALKNET_MAX_CONNECTIONS_PER_IP,\n"
	    "ALKNET_MAX_AUTH_ATTEMPTS, ALKNET_PENALTIES,\n"
	    "ALKNET_PENALTY_EXEMPT, ALKNET_SECRETD (flags win).\n");
}

/*
 * The limits of the SSH server: flags, or environment, then defaults.
 * Their options have no short letter: their codes start at OPT_LIMIT.
 */
enum { LIMIT_CONNS, LIMIT_AUTH, LIMIT_PENALTIES, LIMIT_EXEMPT, NLIMITS };

#define OPT_LIMIT 0x100

static const struct {
	const char *flag;
	const char *env;
} limit_names[NLIMITS] = {
    [LIMIT_CONNS] = {"--max-connections-per-ip",
        "ALKNET_MAX_CONNECTIONS_PER_IP"},
    [LIMIT_AUTH] = {"--max-auth-attempts", "ALKNET_MAX_AUTH_ATTEMPTS"},
    [LIMIT_PENALTIES] = {"--penalties", "ALKNET_PENALTIES"},
    [LIMIT_EXEMPT] = {"--penalty-exempt", "ALKNET_PENALTY_EXEMPT"},
};

static struct {
	const char        *value[NLIMITS];
	int                from_env[NLIMITS];
	struct sshd_limits sshd;
	struct penalty    *penalty;
} limits;

static void
options_env_limits(void)
{
	int i;

	for (i = 0; i < NLIMITS; i++) {
		if (limits.value[i] != NULL)
			continue;
		/* An empty variable is one not set, as for ALKNET_LISTEN. */
		limits.value[i] = getenv(limit_names[i].env);
		if (limits.value[i] != NULL && *limits.value[i] == '\0')
			limits.value[i] = NULL;
		limits.from_env[i] = limits.value[i] != NULL;
	}
}

/* What names limit i in a message: its flag, or its variable. */
static const char *
limit_name(int i)
{
	return limits.from_env[i] ? limit_names[i].env : limit_names[i].flag;
}

static unsigned
options_limit_count(int i, unsigned dflt)
{
	const char   *v = limits.value[i];
	unsigned long n;
	char         *end;

	if (v == NULL)
		return dflt;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
	    n > LIMIT_COUNT_MAX)
		die("%s %s: not a whole number from 0 to %d", limit_name(i), v,
		    LIMIT_COUNT_MAX);
	return (unsigned)n;
}

/* Checks and parses the limits before anything is made. */
static void
options_limits(void)
{
	struct penalty_conf c;
	const char         *v;
	char                err[512];

	limits.sshd.max_connections_per_ip =
	    options_limit_count(LIMIT_CONNS, 0);
	limits.sshd.max_auth_attempts =
	    options_limit_count(LIMIT_AUTH, DEFAULT_AUTH_MAX);

	penalty_conf_default(&c);
	v = limits.value[LIMIT_PENALTIES];
	if (v != NULL && penalty_conf_parse(v, &c, err, sizeof err) != 0)
		die("%s %s: %s", limit_name(LIMIT_PENALTIES), v, err);
	if (penalty_new(&c, &limits.penalty) != 0)
		die("out of memory");
	v = limits.value[LIMIT_EXEMPT];
	if (v != NULL &&
	    penalty_set_exempt(limits.penalty, v, err, sizeof err) != 0)
		die("%s %s: %s", limit_name(LIMIT_EXEMPT), v, err);
}

static void
options_env(struct options *o)
{
	const char *v;

	if (o->nlisten == 0 && (v = getenv("ALKNET_LISTEN")) != NULL &&
	    *v != '\0')
		o->listen[o->nlisten++] = v;
	if (o->state_dir == NULL)
		o->state_dir = getenv("ALKNET_STATE_DIR");
	if (o->host_key == NULL)
		o->host_key = getenv("ALKNET_HOST_KEY");
	if (o->authkeys == NULL)
		o->authkeys = getenv("ALKNET_AUTHORIZED_KEYS");
	if (o->cas == NULL)
		o->cas = getenv("ALKNET_CERT_AUTHORITY");
	if (o->mount == NULL)
		o->mount = getenv("ALKNET_MOUNT");
	if (o->name == NULL)
		o->name = getenv("ALKNET_NAME");
	if (o->secretd == NULL && (v = getenv("ALKNET_SECRETD")) != NULL &&
	    *v != '\0')
		o->secretd = v;
	options_env_limits();
}

static void
options_forward(struct options *o, enum forward_kind kind, const char *spec)
{
	if (o->nforwards == MAX_FORWARDS)
		die("at most %d forwards on the command line", MAX_FORWARDS);
	o->forwards[o->nforwards].kind = kind;
	o->forwards[o->nforwards++].spec = spec;
}

static void
options_worker(struct options *o, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		if (o->nconnect == MAX_CONNECT)
			die("at most %d --connect flags", MAX_CONNECT);
		o->connect[o->nconnect++] = arg;
		break;
	case 'i':
		o->identity = arg;
		break;
	case 'C':
		o->cert = arg;
		break;
	case 'H':
		o->hostkey = arg;
		break;
	case 'u':
		o->user = arg;
		break;
	case 'L':
		options_forward(o, FORWARD_LOCAL, arg);
		break;
	case 'R':
		options_forward(o, FORWARD_REMOTE, arg);
		break;
	case 'D':
		options_forward(o, FORWARD_SOCKS, arg);
		break;
	}
}

/* The name goes into files of "key value" lines: one printable word. */
static int
options_name_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++) {
		if (name[i] <= ' ' || name[i] == 0x7f)
			return 0;
	}
	return 1;
}

static const char *rule_flags[SSHD_NRULES] = {
    [SSHD_FORWARDING] = "--forwarding-rule",
    [SSHD_LISTEN] = "--listen-rule",
};

static void
options_rule(struct options *o, enum sshd_rules which, const char *rule)
{
	if (o->nrules[which] == MAX_RULES)
		die("at most %d %s flags", MAX_RULES, rule_flags[which]);
	if (strchr(rule, '\n') != NULL)
		die("%s: one rule a flag", rule_flags[which]);
	o->rules[which][o->nrules[which]++] = rule;
}

/* Parses the rules given as flags, before anything is made. */
static void
options_policy(struct options *o, enum sshd_rules which)
{
	struct policy *p;
	char          *text, err[512];
	size_t         len = 1;
	int            i;

	if (o->nrules[which] == 0)
		return;
	for (i = 0; i < o->nrules[which]; i++)
		len += strlen(o->rules[which][i]) + 1;
	if ((text = calloc(1, len)) == NULL)
		die("out of memory");
	for (i = 0; i < o->nrules[which]; i++) {
		strcat(text, o->rules[which][i]);
		strcat(text, "\n");
	}
	if (policy_parse(text, 0, &p, err, sizeof err) != 0)
		die("%s: %s", rule_flags[which], err);
	policy_free(p);
	o->rules_text[which] = text;
}

static unsigned
options_device_keys(const struct options *o)
{
	unsigned long n;
	char         *end;

	if (o->device_keys == NULL)
		return KEYS_DEVICES_DEFAULT;
	errno = 0;
	n = strtoul(o->device_keys, &end, 10);
	if (*o->device_keys < '0' || *o->device_keys > '9' || *end != '\0' ||
	    errno != 0 || n > KEYS_DEVICES_MAX)
		die("--device-keys %s: not a whole number from 0 to %d",
		    o->device_keys, KEYS_DEVICES_MAX);
	return (unsigned)n;
}

static void
options_parse(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"host-key", required_argument, NULL, 'k'},
	    {"authorized-keys", required_argument, NULL, 'a'},
	    {"cert-authority", required_argument, NULL, 'A'},
	    {"listen-raw", required_argument, NULL, 'W'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"mount", required_argument, NULL, 'm'},
	    {"no-mount", no_argument, NULL, 'M'},
	    {"secretd", required_argument, NULL, 'S'},
	    {"device-keys", required_argument, NULL, 'K'},
	    {"name", required_argument, NULL, 'n'},
	    {"connect", required_argument, NULL, 'c'},
	    {"identity", required_argument, NULL, 'i'},
	    {"cert", required_argument, NULL, 'C'},
	    {"hostkey", required_argument, NULL, 'H'},
	    {"user", required_argument, NULL, 'u'},
	    {"forward", required_argument, NULL, 'L'},
	    {"remote-forward", required_argument, NULL, 'R'},
	    {"socks", required_argument, NULL, 'D'},
	    {"forwarding-rule", required_argument, NULL, 'F'},
	    {"listen-rule", required_argument, NULL, 'P'},
	    {"max-connections-per-ip", required_argument, NULL,
	        OPT_LIMIT + LIMIT_CONNS},
	    {"max-auth-attempts", required_argument, NULL,
	        OPT_LIMIT + LIMIT_AUTH},
	    {"penalties", required_argument, NULL, OPT_LIMIT + LIMIT_PENALTIES},
	    {"penalty-exempt", required_argument, NULL,
	        OPT_LIMIT + LIMIT_EXEMPT},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (o->nlisten == MAX_LISTEN)
				die("at most %d --listen flags", MAX_LISTEN);
			o->listen[o->nlisten++] = optarg;
			break;
		case 'k':
			o->host_key = optarg;
			break;
		case 'a':
			o->authkeys = optarg;
			break;
		case 'A':
			o->cas = optarg;
			break;
		case 'W':
			if (o->nraw == MAX_LISTEN)
				die("at most %d --listen-raw flags",
				    MAX_LISTEN);
			o->listen_raw[o->nraw++] = optarg;
			break;
		case 's':
			o->state_dir = optarg;
			break;
		case 'm':
			o->mount = optarg;
			break;
		case 'M':
			o->no_mount = 1;
			break;
		case 'S':
			o->secretd = optarg;
			break;
		case 'K':
			o->device_keys = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'c':
		case 'i':
		case 'C':
		case 'H':
		case 'u':
		case 'L':
		case 'R':
		case 'D':
			options_worker(o, ch, optarg);
			break;
		case 'F':
		case 'P':
			options_rule(o,
			    ch == 'F' ? SSHD_FORWARDING : SSHD_LISTEN, optarg);
			break;
		case OPT_LIMIT + LIMIT_CONNS:
		case OPT_LIMIT + LIMIT_AUTH:
		case OPT_LIMIT + LIMIT_PENALTIES:
		case OPT_LIMIT + LIMIT_EXEMPT:
			limits.value[ch - OPT_LIMIT] = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("alknetd %s\n", ALKNET_VERSION);
			exit(0);
		case ':':
			die("option %s needs a value", argv[optind - 1]);
		default:
			if (optopt != 0 &&
			    strncmp(argv[optind - 1], "--", 2) == 0)
				die("option %s takes no value",
				    argv[optind - 1]);
			die("unknown option %s (see alknetd --help)",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		die("unexpected argument %s (see alknetd --help)",
		    argv[optind]);
	if (o->no_mount && o->mount != NULL)
		die("--mount and --no-mount exclude each other");
	options_env(o);
	options_limits();
	options_policy(o, SSHD_FORWARDING);
	options_policy(o, SSHD_LISTEN);
	o->ndevices = options_device_keys(o);
	if (o->name != NULL && !options_name_ok(o->name))
		die("bad node name: printable characters without blanks, at "
		    "most 64");
}

static void
state_prepare(struct options *o)
{
	struct stat st;
	int         created, fd, rc;
	char        err[512];

	if (o->state_dir == NULL)
		o->state_dir = DEFAULT_STATE_DIR;
	if (mkdir(o->state_dir, 0700) == -1 && errno != EEXIST)
		die("cannot create state directory %s: %s", o->state_dir,
		    strerror(errno));

	if (o->host_key == NULL) {
		snprintf(path_host_key, sizeof path_host_key,
		    "%s/host_ed25519_key", o->state_dir);
		o->host_key = path_host_key;
	}
	if ((rc = sshd_load_host_key(o->host_key, &created, err, sizeof err)) !=
	    0)
		die("%s", err);
	if (created)
		log_info("host key created path=%s", o->host_key);

	/* The default file is made on first run; a named one must exist. */
	if (o->authkeys == NULL) {
		snprintf(path_authkeys, sizeof path_authkeys,
		    "%s/authorized_keys", o->state_dir);
		o->authkeys = path_authkeys;
		if (stat(o->authkeys, &st) == -1 && errno == ENOENT &&
		    (fd = open(o->authkeys,
		         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) !=
		        -1) {
			dprintf(fd,
			    "# OpenSSH authorized_keys of the peers "
			    "this node lets in.\n");
			close(fd);
		}
	}
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	/* Every tunnel costs two descriptors; take what we may. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
daemon_stop(void *arg)
{
	struct daemon *d = arg;

	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("stopping");

	/* Producers first, then the readers are answered, then unmount. */
	listener_remove_all();
	forward_remove_all();
	upstream_remove_all();
	session_close_all("shutdown");
	ns_flowgraph_stop();
	ops_stop();
	keys_stop();
	mount_stop(d->mount);
	d->mount = NULL;
	persist_close(d->persist);
	d->persist = NULL;
	events_close();

	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	node_free();
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	char           err[512];

	if (signum == SIGHUP) {
		if (sshd_reload(d->sshd, err, sizeof err) != 0)
			log_info("reload failed reason=\"%s\"", err);
		return;
	}
	daemon_stop(d);
}

static void
daemon_signals(struct daemon *d)
{
	signal(SIGPIPE, SIG_IGN);
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	uv_signal_init(d->loop, &d->sighup);
	d->sigterm.data = d->sigint.data = d->sighup.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);
	uv_signal_start(&d->sighup, on_signal, SIGHUP);
}

static void
daemon_listen(struct daemon *d, struct options *o)
{
	char err[512];
	int  i;

	/* A node that dials heads listens only when told to. */
	if (o->nlisten == 0 && o->nconnect == 0)
		o->listen[o->nlisten++] = DEFAULT_LISTEN;
	for (i = 0; i < o->nlisten; i++) {
		if (listener_add(d->loop, d->sshd, o->listen[i], NULL, NULL,
		        err, sizeof err) != 0)
			die("--listen %s: %s", o->listen[i], err);
	}
}

/*
 * The stored limits come back; limits given by flag or environment win
 * over them, and are stored in turn.
 */
static void
daemon_limits(struct daemon *d)
{
	static const char *keys[NLIMITS] = {
	    [LIMIT_CONNS] = "max_connections_per_ip",
	    [LIMIT_AUTH] = "max_auth_attempts",
	    [LIMIT_PENALTIES] = "penalties",
	    [LIMIT_EXEMPT] = "penalty_exempt",
	};
	char text[4096] = "", line[1024], err[512];
	int  i;

	if (persist_load_limits(d->persist, d->sshd, err, sizeof err) != 0)
		die("%s", err);
	for (i = 0; i < NLIMITS; i++) {
		if (limits.value[i] == NULL)
			continue;
		snprintf(
		    line, sizeof line, "%s %s\n", keys[i], limits.value[i]);
		strncat(text, line, sizeof text - strlen(text) - 1);
	}
	if (text[0] != '\0' &&
	    persist_set_limits(persist_storage(d->persist), d->sshd, text, err,
	        sizeof err) != 0)
		die("%s", err);
}

/*
 * The stored rule sets come back; rules given as flags replace a set
 * whole, and are stored in turn.
 */
static void
daemon_rules(struct daemon *d, struct options *o)
{
	struct storage *st = persist_storage(d->persist);
	char            err[512];
	int             i;

	if (persist_load_rules(d->persist, d->sshd, err, sizeof err) != 0)
		die("%s", err);
	for (i = 0; i < SSHD_NRULES; i++) {
		if (o->rules_text[i] == NULL)
			continue;
		if (persist_set_rules(
		        st, d->sshd, i, o->rules_text[i], err, sizeof err) != 0)
			die("%s: %s", rule_flags[i], err);
		free(o->rules_text[i]);
		o->rules_text[i] = NULL;
	}
}

static void
daemon_connect(struct daemon *d, struct options *o)
{
	struct upstream_opts uo;
	char                 err[512];
	int                  i;

	if (o->nconnect > 0 && o->identity == NULL)
		die("--connect needs --identity KEY");
	for (i = 0; i < o->nconnect; i++) {
		memset(&uo, 0, sizeof uo);
		uo.uri = o->connect[i];
		uo.identity = o->identity;
		uo.cert = o->cert;
		uo.hostkey = o->hostkey;
		uo.user = o->user;
		if (upstream_add(d->loop, &uo, NULL, err, sizeof err) != 0)
			die("--connect %s: %s", o->connect[i], err);
	}
}

static const char *
forward_flag(enum forward_kind kind)
{
	static const char *flags[] = {
	    [FORWARD_LOCAL] = "--forward",
	    [FORWARD_REMOTE] = "--remote-forward",
	    [FORWARD_SOCKS] = "--socks",
	};

	return flags[kind];
}

static void
daemon_forward(
    struct daemon *d, enum forward_kind kind, const char *spec, int n)
{
	static const char *prefix[] = {
	    [FORWARD_LOCAL] = "local",
	    [FORWARD_REMOTE] = "remote",
	    [FORWARD_SOCKS] = "socks",
	};
	struct forward *f;
	char            listen[300], target[300], name[32], err[512];

	snprintf(name, sizeof name, "%s%d", prefix[kind], n);
	if (forward_parse_spec(kind, spec, listen, sizeof listen, target,
	        sizeof target, err, sizeof err) != 0 ||
	    forward_new(d->loop, name, kind, &f, err, sizeof err) != 0)
		die("%s %s: %s", forward_flag(kind), spec, err);
	if (forward_set(f, "listen", listen, err, sizeof err) != 0 ||
	    (kind != FORWARD_SOCKS &&
	        forward_set(f, "target", target, err, sizeof err) != 0) ||
	    forward_up(f, err, sizeof err) != 0)
		die("%s %s: %s", forward_flag(kind), spec, err);
}

static void
daemon_forwards(struct daemon *d, struct options *o)
{
	int count[3] = {0, 0, 0}, i;

	if (o->nforwards > 0 && o->nconnect == 0)
		die("forwards need a head: add --connect URI");
	for (i = 0; i < o->nforwards; i++)
		daemon_forward(d, o->forwards[i].kind, o->forwards[i].spec,
		    count[o->forwards[i].kind]++);
}

/*
 * The secret daemon's host key replaces the file's before anything is
 * accepted.  The node's id is the identity's fingerprint when the daemon
 * gave one, else the host key's.
 */
static const char *
daemon_keys(struct daemon *d, struct options *o)
{
	const char *id;
	char        err[512];

	if (keys_start(d->loop, o->secretd, o->ndevices, d->sshd, err,
	        sizeof err) != 0)
		die("--secretd %s: %s", o->secretd, err);
	log_info("keys state=%s host_key=%s", keys_state_name(keys_state()),
	    keys_host_from_seed() ? "seed" : "file");
	id = keys_identity()->fp;
	return id[0] != '\0' ? id : sshd_host_fingerprint(d->sshd);
}

static void
node_name(const struct options *o, char *buf, size_t len)
{
	if (o->name != NULL)
		snprintf(buf, len, "%s", o->name);
	else if (gethostname(buf, len) != 0)
		snprintf(buf, len, "alknet");
}

int
main(int argc, char **argv)
{
	struct options o;
	struct daemon  d;
	const char    *id;
	char           err[512], name[256];

	memset(&o, 0, sizeof o);
	memset(&d, 0, sizeof d);
	log_init("alknetd");
	if (sodium_init() < 0)
		die("cannot initialise libsodium");
	if (rand_use_sodium() != 0)
		die("cannot hand OpenSSL libsodium's random bytes");
	options_parse(&o, argc, argv);
	state_prepare(&o);
	raise_fd_limit();

	d.loop = uv_default_loop();
	if (persist_open(d.loop, o.state_dir, EVENTS_RETAIN, EVENTS_LAG_LINES,
	        &d.persist, err, sizeof err) != 0)
		die("%s", err);
	if (sshd_new(
	        d.loop, o.host_key, o.authkeys, &d.sshd, err, sizeof err) != 0)
		die("%s", err);
	if (o.cas != NULL &&
	    sshd_set_cert_authorities(d.sshd, o.cas, err, sizeof err) != 0)
		die("--cert-authority %s", err);
	sshd_set_limits(d.sshd, &limits.sshd, limits.penalty);
	limits.penalty = NULL;
	id = daemon_keys(&d, &o);
	daemon_rules(&d, &o);
	daemon_limits(&d);
	if (identities_load(
	        persist_storage(d.persist), d.sshd, err, sizeof err) != 0)
		die("%s", err);
	if (ops_start(d.loop, d.sshd, persist_storage(d.persist), err,
	        sizeof err) != 0)
		die("%s", err);
	if (ns_flowgraph_start(ops_registry()) != 0)
		die("cannot record calls");
	for (int i = 0; i < o.nraw; i++) {
		if (ops_listen_raw(o.listen_raw[i], err, sizeof err) != 0)
			die("--listen-raw %s: %s", o.listen_raw[i], err);
	}
	daemon_listen(&d, &o);
	daemon_connect(&d, &o);
	daemon_forwards(&d, &o);

	node_name(&o, name, sizeof name);
	node_init(d.loop, id, name,
	    o.no_mount ? "" : (o.mount != NULL ? o.mount : DEFAULT_MOUNT));
	node_on_stop(daemon_stop, &d);
	if (!o.no_mount) {
		if (o.mount == NULL)
			o.mount = DEFAULT_MOUNT;
		if (mount_start(d.loop, d.sshd, o.mount, &d.mount, err,
		        sizeof err) != 0)
			die("cannot mount %s: %s", o.mount, err);
		log_info("mounted dir=%s", o.mount);
	}
	daemon_signals(&d);
	log_info("ready pid=%ld", (long)getpid());

	uv_run(d.loop, UV_RUN_DEFAULT);

	uv_loop_close(d.loop);
	sshd_free(d.sshd);
	log_info("stopped");
	return 0;
}
