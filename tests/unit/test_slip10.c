/*
 * SLIP-0010 Ed25519: both published test vectors at every level (chain
 * code, private key, public key), the path grammar, alknet's key paths,
 * and the OpenSSH forms of a derived key, read back by the real
 * ssh-keygen.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "keypath.h"
#include "secret.h"
#include "slip10.h"
#include "sshkey.h"

/* From SLIP-0010, "Test vector 1 for ed25519" and "... 2 for ed25519". */
struct level {
	const char *path;
	const char *chain;
	const char *key;
	const char *pub; /* as published: a 00 byte, then the key */
};

static const char seed1[] = "000102030405060708090a0b0c0d0e0f";

static const struct level vector1[] = {
    {"m", "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
        "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
        "00a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed"},
    {"m/0'", "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
        "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
        "008c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c"},
    {"m/0'/1'",
        "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
        "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
        "001932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187"},
    {"m/0'/1'/2'",
        "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
        "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
        "00ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1"},
    {"m/0'/1'/2'/2'",
        "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
        "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
        "008abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c"},
    {"m/0'/1'/2'/2'/1000000000'",
        "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
        "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
        "003c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a"},
};

static const char seed2[] =
    "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a2"
    "9f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542";

static const struct level vector2[] = {
    {"m", "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b",
        "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012",
        "008fe9693f8fa62a4305a140b9764c5ee01e455963744fe18204b4fb948249308a"},
    {"m/0'", "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d",
        "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635",
        "0086fab68dcb57aa196c77c5f264f215a112c22a912c10d123b0d03c3c28ef1037"},
    {"m/0'/2147483647'",
        "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f",
        "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4",
        "005ba3b9ac6e90e83effcd25ac4e58a1365a9e35a3d3ae5eb07b9e4d90bcf7506d"},
    {"m/0'/2147483647'/1'",
        "73bd9fff1cfbde33a1b846c27085f711c0fe2d66fd32e139d3ebc28e5a4a6b90",
        "3757c7577170179c7868353ada796c839135b3d30554bbb74a4b1e4a5a58505c",
        "002e66aa57069c86cc18249aecf5cb5a9cebbfd6fadeab056254763874a9352b45"},
    {"m/0'/2147483647'/1'/2147483646'",
        "0902fe8a29f9140480a00ef244bd183e8a13288e4412d8389d140aac1794825a",
        "5837736c89570de861ebc173b1086da4f505d4adb387c6a1b1342d5e4ac9ec72",
        "00e33c0f7d81d843c572275f287498e8d408654fdf0d1e065b84e2e6f157aab09b"},
    {"m/0'/2147483647'/1'/2147483646'/2'",
        "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4",
        "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d",
        "0047150c75db263559a70d5778bf36abbab30fb061ad69f69ece61a72b0cfa4fc0"},
};

#define NLEVELS 6

/* The BIP39 seed of "abandon" x 11 "about" with passphrase "TREZOR". */
static const char trezor_seed[] =
    "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
    "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04";

static size_t
unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t len;

	assert_int_equal(
	    sodium_hex2bin(out, max, hex, strlen(hex), NULL, &len, NULL), 0);
	return len;
}

static void
assert_hex(const unsigned char *bin, size_t len, const char *want)
{
	char got[2 * 64 + 1];

	assert_true(len <= 64);
	sodium_bin2hex(got, sizeof got, bin, len);
	assert_string_equal(got, want);
}

/* node against one published level; the public key without its 00. */
static void
assert_level(const struct slip10_node *node, const struct level *l)
{
	unsigned char pk[SLIP10_PUB_LEN];

	assert_hex(node->chain, sizeof node->chain, l->chain);
	assert_hex(node->key, sizeof node->key, l->key);
	slip10_public(node, pk);
	assert_memory_equal(l->pub, "00", 2);
	assert_hex(pk, sizeof pk, l->pub + 2);
}

/* Every level of a vector, both by path and one child at a time. */
static void
check_vector(const char *seedhex, const struct level *levels)
{
	unsigned char      seed[64];
	size_t             len = unhex(seedhex, seed, sizeof seed), i;
	struct slip10_node node, step;
	uint32_t           index[SLIP10_MAX_DEPTH];
	size_t             depth;

	assert_int_equal(slip10_master(seed, len, &step), 0);
	for (i = 0; i < NLEVELS; i++) {
		assert_int_equal(
		    slip10_derive(seed, len, levels[i].path, &node), 0);
		assert_level(&node, &levels[i]);

		if (i > 0) {
			assert_int_equal(
			    slip10_parse_path(levels[i].path, index, &depth),
			    0);
			assert_int_equal(depth, i);
			assert_int_equal(
			    slip10_child(&step, index[i - 1], &step), 0);
		}
		assert_level(&step, &levels[i]);
	}
	sodium_memzero(&node, sizeof node);
	sodium_memzero(&step, sizeof step);
}

static void
test_vector1(void **state)
{
	check_vector(seed1, vector1);
}

static void
test_vector2(void **state)
{
	check_vector(seed2, vector2);
}

static void
test_h_and_quote_are_one(void **state)
{
	unsigned char      seed[16];
	struct slip10_node a, b;

	unhex(seed1, seed, sizeof seed);
	assert_int_equal(slip10_derive(seed, 16, "m/0'/1'/2'", &a), 0);
	assert_int_equal(slip10_derive(seed, 16, "m/0h/1h/2h", &b), 0);
	assert_memory_equal(&a, &b, sizeof a);
	assert_int_equal(slip10_derive(seed, 16, "m/0h/1'/2h", &b), 0);
	assert_memory_equal(&a, &b, sizeof a);
	assert_level(&b, &vector1[3]);
}

static void
test_paths_parsed(void **state)
{
	uint32_t index[SLIP10_MAX_DEPTH];
	size_t   depth = 99;

	assert_int_equal(slip10_parse_path("m", index, &depth), 0);
	assert_int_equal(depth, 0);

	assert_int_equal(
	    slip10_parse_path("m/74'/2h/0'/10'", index, &depth), 0);
	assert_int_equal(depth, 4);
	assert_int_equal(index[0], 74);
	assert_int_equal(index[1], 2);
	assert_int_equal(index[2], 0);
	assert_int_equal(index[3], 10);

	assert_int_equal(slip10_parse_path("m/2147483647'", index, &depth), 0);
	assert_int_equal(depth, 1);
	assert_int_equal(index[0], 0x7fffffff);
}

static void
test_bad_paths_refused(void **state)
{
	static const char *const bad[] = {"", "M", "/", "/0'", "0'", "m/",
	    "m//0'", "m/0'/", "m/0'//1'", "m0'", "n/0'", "mm/0'",
	    /* not hardened */
	    "m/0", "m/0'/1", "m/44'/60'/0'/0/0",
	    /* not decimal */
	    "m/a'", "m/-1'", "m/+1'", "m/ 1'", "m/1 '", "m/1' ", "m/1.5'",
	    "m/0x10'", "m/'", "m/h", "m/1H", "m/1''", "m/1'h", "m/1\"",
	    /* not the one way of writing it */
	    "m/00'", "m/01'",
	    /* past 2^31 - 1 */
	    "m/2147483648'", "m/4294967295'", "m/4294967296'", "m/4294967297'",
	    "m/99999999999999999999'"};
	unsigned char            seed[16] = {0};
	uint32_t                 index[SLIP10_MAX_DEPTH];
	size_t                   depth, i;
	struct slip10_node       node;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(
		    slip10_parse_path(bad[i], index, &depth), -EINVAL);
		memset(&node, 0xaa, sizeof node);
		assert_int_equal(
		    slip10_derive(seed, sizeof seed, bad[i], &node), -EINVAL);
		assert_true(
		    sodium_is_zero((unsigned char *)&node, sizeof node));
	}
}

static void
test_depth_bounded(void **state)
{
	char     path[SLIP10_PATH_MAX + 16] = "m";
	uint32_t index[SLIP10_MAX_DEPTH];
	size_t   depth, i;

	for (i = 0; i < SLIP10_MAX_DEPTH; i++)
		strcat(path, "/2147483647'");
	assert_true(strlen(path) + 1 <= SLIP10_PATH_MAX);
	assert_int_equal(slip10_parse_path(path, index, &depth), 0);
	assert_int_equal(depth, SLIP10_MAX_DEPTH);

	strcat(path, "/0'");
	assert_int_equal(slip10_parse_path(path, index, &depth), -E2BIG);
}

static void
test_child_and_master_limits(void **state)
{
	unsigned char      seed[SLIP10_SEED_MAX + 1] = {0};
	struct slip10_node node;

	assert_int_equal(
	    slip10_master(seed, SLIP10_SEED_MIN - 1, &node), -EINVAL);
	assert_int_equal(
	    slip10_master(seed, SLIP10_SEED_MAX + 1, &node), -EINVAL);
	assert_int_equal(slip10_master(seed, SLIP10_SEED_MIN, &node), 0);
	assert_int_equal(slip10_master(seed, SLIP10_SEED_MAX, &node), 0);

	/* An index that already carries the hardened bit is not hardened
	 * again: that would be a normal child in disguise. */
	assert_int_equal(slip10_child(&node, 0x80000000u, &node), -EINVAL);
	assert_int_equal(slip10_child(&node, 0xffffffffu, &node), -EINVAL);
	assert_int_equal(slip10_child(&node, 0x7fffffffu, &node), 0);
}

static void
test_key_paths(void **state)
{
	char path[KEYPATH_MAX];

	assert_string_equal(KEYPATH_IDENTITY, "m/74'/0'/0'/0'");
	assert_string_equal(KEYPATH_SSH_HOST, "m/74'/0'/1'/0'");

	assert_int_equal(keypath_device(0, path, sizeof path), 0);
	assert_string_equal(path, KEYPATH_IDENTITY);
	assert_int_equal(keypath_device(7, path, sizeof path), 0);
	assert_string_equal(path, "m/74'/0'/0'/7'");
	assert_int_equal(
	    keypath_device(0x80000000u, path, sizeof path), -EINVAL);

	assert_int_equal(keypath_encryption(2, path, sizeof path), 0);
	assert_string_equal(path, "m/74'/2'/0'/0'");
	assert_int_equal(keypath_encryption(3, path, sizeof path), 0);
	assert_string_equal(path, "m/74'/2'/0'/1'");
	assert_int_equal(keypath_encryption(0, path, sizeof path), -EINVAL);
	assert_int_equal(keypath_encryption(1, path, sizeof path), -EINVAL);

	assert_int_equal(
	    keypath_encryption(KEYPATH_VERSION_MAX, path, sizeof path), 0);
	assert_string_equal(path, "m/74'/2'/0'/2147483647'");
	assert_int_equal(
	    keypath_encryption(KEYPATH_VERSION_MAX + 1, path, sizeof path),
	    -EINVAL);
	assert_int_equal(
	    keypath_encryption(0xffffffffu, path, sizeof path), -EINVAL);

	assert_int_equal(keypath_encryption(2, path, 14), -ENOSPC);
	assert_int_equal(keypath_encryption(2, path, 15), 0);
}

/* The public key at path below the Trezor seed, in hex. */
static void
assert_public_at(const char *path, const char *want)
{
	unsigned char      seed[64], pk[SLIP10_PUB_LEN];
	struct slip10_node node;

	unhex(trezor_seed, seed, sizeof seed);
	assert_int_equal(slip10_derive(seed, sizeof seed, path, &node), 0);
	slip10_public(&node, pk);
	assert_hex(pk, sizeof pk, want);
	sodium_memzero(&node, sizeof node);
}

static void
test_alknet_keys(void **state)
{
	/* Computed separately with Python (hmac, cryptography). */
	assert_public_at(KEYPATH_IDENTITY,
	    "51d5edf75f95a8457f4877803cf7bf72fdafe60b5da3190f91a3d9e5f9c7d96a");
	assert_public_at("m/74'/0'/0'/1'",
	    "e0033ded92d5faa13f3e82bd9a2adc85bbc679e927a59138c539e8fcf2edaa81");
	assert_public_at(KEYPATH_SSH_HOST,
	    "439e8c3f2577adff86b88d76d954dbe9837380a0d26a6835637c6bed668359af");
	assert_public_at("m/74'/2'/0'/0'",
	    "ea4612168d29c579be5c637c57470ed6812d62743a19e453c12fbebbe9320a8d");
	assert_public_at("m/74'/2'/0'/1'",
	    "9bbce2d5c38669e88f8e877113c8be34c302d3e1bd6245b77fca8480deb5e3c4");
}

static void
test_alknet_keys_distinct_and_stable(void **state)
{
	unsigned char      seed[64];
	char               enc[KEYPATH_MAX];
	const char        *paths[3] = {KEYPATH_IDENTITY, KEYPATH_SSH_HOST, enc};
	struct slip10_node a[3], b;
	size_t             i, j;

	unhex(trezor_seed, seed, sizeof seed);
	assert_int_equal(keypath_encryption(2, enc, sizeof enc), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(slip10_derive(seed, 64, paths[i], &a[i]), 0);
		assert_int_equal(slip10_derive(seed, 64, paths[i], &b), 0);
		assert_memory_equal(&a[i], &b, sizeof b);
		for (j = 0; j < i; j++) {
			assert_memory_not_equal(a[i].key, a[j].key, 32);
			assert_memory_not_equal(a[i].chain, a[j].chain, 32);
		}
	}

	/* Another seed, other keys. */
	seed[63] ^= 1;
	assert_int_equal(slip10_derive(seed, 64, KEYPATH_IDENTITY, &b), 0);
	assert_memory_not_equal(a[0].key, b.key, 32);
	sodium_memzero(a, sizeof a);
	sodium_memzero(&b, sizeof b);
}

/* The master key of SLIP-0010 vector 1. */
static void
vector1_master(struct slip10_node *node, unsigned char pk[SLIP10_PUB_LEN])
{
	unsigned char seed[16];

	unhex(seed1, seed, sizeof seed);
	assert_int_equal(slip10_master(seed, sizeof seed, node), 0);
	slip10_public(node, pk);
}

static void
test_ssh_public_forms(void **state)
{
	struct slip10_node node;
	unsigned char      pk[SLIP10_PUB_LEN];
	char               line[SSHKEY_LINE_MAX], fp[SSHKEY_FINGERPRINT_MAX];
	char               comment[SSHKEY_COMMENT_MAX + 2];

	/* Values from Python's cryptography package and hashlib. */
	vector1_master(&node, pk);
	assert_int_equal(sshkey_public_line(pk, NULL, line, sizeof line), 0);
	assert_string_equal(line,
	    "ssh-ed25519 "
	    "AAAAC3NzaC1lZDI1NTE5AAAAIKSyhWv+"
	    "xRCrq4l1P6wawOERI2Tn0lBUWWPxNfKjMYjt");
	assert_int_equal(sshkey_public_line(pk, "", line, sizeof line), 0);
	assert_int_equal(strlen(line), 80);
	assert_int_equal(
	    sshkey_public_line(pk, "host@a b", line, sizeof line), 0);
	assert_string_equal(line + 80, " host@a b");

	assert_int_equal(sshkey_fingerprint(pk, fp, sizeof fp), 0);
	assert_string_equal(
	    fp, "SHA256:D9DryN7HCKiD6Kxxt4hG5Un/GyVkY7FwxSQaDWQdU5c");
	assert_int_equal(strlen(fp) + 1, SSHKEY_FINGERPRINT_MAX);
	assert_int_equal(sshkey_fingerprint(pk, fp, sizeof fp - 1), -ENOSPC);
	assert_int_equal(sshkey_public_line(pk, NULL, line, 80), -ENOSPC);

	/* Comments: bounded, one line, no control characters. */
	memset(comment, 'c', sizeof comment);
	comment[SSHKEY_COMMENT_MAX] = '\0';
	assert_int_equal(sshkey_public_line(pk, comment, line, sizeof line), 0);
	comment[SSHKEY_COMMENT_MAX] = 'c';
	comment[SSHKEY_COMMENT_MAX + 1] = '\0';
	assert_int_equal(
	    sshkey_public_line(pk, comment, line, sizeof line), -EINVAL);
	assert_int_equal(
	    sshkey_public_line(pk, "a\nb", line, sizeof line), -EINVAL);
	assert_int_equal(
	    sshkey_public_line(pk, "a\tb", line, sizeof line), -EINVAL);
	sodium_memzero(&node, sizeof node);
}

/* Runs cmd and returns its first line of output, newline removed. */
static void
run(const char *cmd, char *out, size_t outlen)
{
	FILE *p;

	assert_non_null(p = popen(cmd, "r"));
	if (fgets(out, (int)outlen, p) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(pclose(p), 0);
}

/* Writes the host key's private file into dir/key; returns its text. */
static struct secret *
write_key(const char *dir, const struct slip10_node *node, const char *comment,
    char *file, size_t filelen)
{
	struct secret *pem;
	FILE          *f;

	assert_int_equal(sshkey_private_pem(node, comment, &pem), 0);
	snprintf(file, filelen, "%s/key", dir);
	assert_non_null(f = fopen(file, "w"));
	assert_int_equal(chmod(file, 0600), 0);
	assert_int_equal(
	    fwrite(secret_data(pem), 1, secret_len(pem), f), secret_len(pem));
	assert_int_equal(fclose(f), 0);
	return pem;
}

static void
check_ssh_keygen(const char *comment)
{
	char               dir[] = "/tmp/test_slip10.XXXXXX", file[64];
	char               cmd[256], got[512], want[SSHKEY_LINE_MAX];
	char               fp[SSHKEY_FINGERPRINT_MAX];
	unsigned char      seed[64], pk[SLIP10_PUB_LEN];
	struct slip10_node node;
	struct secret     *pem;

	unhex(trezor_seed, seed, sizeof seed);
	assert_int_equal(slip10_derive(seed, 64, KEYPATH_SSH_HOST, &node), 0);
	slip10_public(&node, pk);

	assert_non_null(mkdtemp(dir));
	pem = write_key(dir, &node, comment, file, sizeof file);

	/* ssh-keygen -y prints the public line, comment included. */
	assert_int_equal(sshkey_public_line(pk, comment, want, sizeof want), 0);
	snprintf(cmd, sizeof cmd, "ssh-keygen -y -f %s", file);
	run(cmd, got, sizeof got);
	assert_string_equal(got, want);

	/* ssh-keygen -l: "256 SHA256:... comment (ED25519)", empty or not */
	assert_int_equal(sshkey_fingerprint(pk, fp, sizeof fp), 0);
	snprintf(want, sizeof want, "256 %s %s (ED25519)", fp,
	    comment != NULL ? comment : "");
	snprintf(cmd, sizeof cmd, "ssh-keygen -l -f %s", file);
	run(cmd, got, sizeof got);
	assert_string_equal(got, want);

	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(dir), 0);
	secret_free(pem);
	sodium_memzero(&node, sizeof node);
}

static void
test_ssh_keygen_reads_private_file(void **state)
{
	check_ssh_keygen("alknetd host key");
	check_ssh_keygen("a");
	check_ssh_keygen("seven77");
	check_ssh_keygen(NULL);
}

static void
test_private_file_shape(void **state)
{
	struct slip10_node node;
	unsigned char      pk[SLIP10_PUB_LEN];
	struct secret     *pem;
	const char        *text, *line, *nl;

	vector1_master(&node, pk);
	assert_int_equal(sshkey_private_pem(&node, "x", &pem), 0);
	text = (const char *)secret_data(pem);
	assert_int_equal(strlen(text), secret_len(pem));

	assert_memory_equal(text, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36);
	assert_string_equal(
	    text + secret_len(pem) - 34, "-----END OPENSSH PRIVATE KEY-----\n");

	/* Base64 lines of 70, as OpenSSH writes them; the last may be short. */
	for (line = text + 36; *line != '-'; line = nl + 1) {
		assert_non_null(nl = strchr(line, '\n'));
		assert_true(nl - line <= 70);
		if (nl[1] != '-')
			assert_int_equal(nl - line, 70);
	}

	/* "openssh-key-v1\0" and "none" under the armour. */
	assert_memory_equal(
	    text + 36, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", 42);

	secret_free(pem);
	assert_int_equal(sshkey_private_pem(&node, "a\nb", &pem), -EINVAL);
	sodium_memzero(&node, sizeof node);
}

static int
setup(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector1),
	    cmocka_unit_test(test_vector2),
	    cmocka_unit_test(test_h_and_quote_are_one),
	    cmocka_unit_test(test_paths_parsed),
	    cmocka_unit_test(test_bad_paths_refused),
	    cmocka_unit_test(test_depth_bounded),
	    cmocka_unit_test(test_child_and_master_limits),
	    cmocka_unit_test(test_key_paths),
	    cmocka_unit_test(test_alknet_keys),
	    cmocka_unit_test(test_alknet_keys_distinct_and_stable),
	    cmocka_unit_test(test_ssh_public_forms),
	    cmocka_unit_test(test_ssh_keygen_reads_private_file),
	    cmocka_unit_test(test_private_file_shape),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
