/*
 * BIP39: the English list as shipped, the 24 English vectors of the Trezor
 * reference set, the three ways a phrase is refused, NFKD, and phrases
 * made from the random source.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "bip39.h"

#define ABOUT                                                                  \
	"abandon abandon abandon abandon abandon abandon abandon abandon "     \
	"abandon abandon abandon about"

/*
 * trezor/python-mnemonic vectors.json, "english", passphrase "TREZOR":
 * entropy, mnemonic, seed.  Each was checked again against the reference
 * implementation (Debian's python3-mnemonic 0.19) before it was put here.
 */
static const struct vector {
	const char *entropy;
	const char *mnemonic;
	const char *seed;
} vectors[] = {
    {"00000000000000000000000000000000",
        "abandon abandon abandon abandon abandon abandon abandon "
        "abandon abandon abandon abandon about",
        "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e5349553"
        "1f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "legal winner thank year wave sausage worth useful legal "
        "winner thank yellow",
        "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6f"
        "a457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607"},
    {"80808080808080808080808080808080",
        "letter advice cage absurd amount doctor acoustic avoid "
        "letter advice cage above",
        "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30"
        "fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8"},
    {"ffffffffffffffffffffffffffffffff",
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
        "ac27495480225222079d7be181583751e86f571027b0497b5b5d11218e0a8a13"
        "332572917f0f8e5a589620c6f15b11c61dee327651a14c34e18231052e48c069"},
    {"000000000000000000000000000000000000000000000000",
        "abandon abandon abandon abandon abandon abandon abandon "
        "abandon abandon abandon abandon abandon abandon abandon "
        "abandon abandon abandon agent",
        "035895f2f481b1b0f01fcf8c289c794660b289981a78f8106447707fdd9666ca"
        "06da5a9a565181599b79f53b844d8a71dd9f439c52a3d7b3e8a79c906ac845fa"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "legal winner thank year wave sausage worth useful legal "
        "winner thank year wave sausage worth useful legal will",
        "f2b94508732bcbacbcc020faefecfc89feafa6649a5491b8c952cede496c214a"
        "0c7b3c392d168748f2d4a612bada0753b52a1c7ac53c1e93abd5c6320b9e95dd"},
    {"808080808080808080808080808080808080808080808080",
        "letter advice cage absurd amount doctor acoustic avoid "
        "letter advice cage absurd amount doctor acoustic avoid "
        "letter always",
        "107d7c02a5aa6f38c58083ff74f04c607c2d2c0ecc55501dadd72d025b751bc2"
        "7fe913ffb796f841c49b1d33b610cf0e91d3aa239027f5e99fe4ce9e5088cd65"},
    {"ffffffffffffffffffffffffffffffffffffffffffffffff",
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo "
        "zoo zoo zoo when",
        "0cd6e5d827bb62eb8fc1e262254223817fd068a74b5b449cc2f667c3f1f985a7"
        "6379b43348d952e2265b4cd129090758b3e3c2c49103b5051aac2eaeb890a528"},
    {"0000000000000000000000000000000000000000000000000000000000000000",
        "abandon abandon abandon abandon abandon abandon abandon "
        "abandon abandon abandon abandon abandon abandon abandon "
        "abandon abandon abandon abandon abandon abandon abandon "
        "abandon abandon art",
        "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd30971"
        "70af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"},
    {"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
        "legal winner thank year wave sausage worth useful legal "
        "winner thank year wave sausage worth useful legal winner "
        "thank year wave sausage worth title",
        "bc09fca1804f7e69da93c2f2028eb238c227f2e9dda30cd63699232578480a40"
        "21b146ad717fbb7e451ce9eb835f43620bf5c514db0f8add49f5d121449d3e87"},
    {"8080808080808080808080808080808080808080808080808080808080808080",
        "letter advice cage absurd amount doctor acoustic avoid "
        "letter advice cage absurd amount doctor acoustic avoid "
        "letter advice cage absurd amount doctor acoustic bless",
        "c0c519bd0e91a2ed54357d9d1ebef6f5af218a153624cf4f2da911a0ed8f7a09"
        "e2ef61af0aca007096df430022f7a2b6fb91661a9589097069720d015e4e982f"},
    {"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo "
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo vote",
        "dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e16"
        "13912f0a5b694407be899ffd31ed3992c456cdf60f5d4564b8ba3f05a69890ad"},
    {"9e885d952ad362caeb4efe34a8e91bd2",
        "ozone drill grab fiber curtain grace pudding thank cruise "
        "elder eight picnic",
        "274ddc525802f7c828d8ef7ddbcdc5304e87ac3535913611fbbfa986d0c9e547"
        "6c91689f9c8a54fd55bd38606aa6a8595ad213d4c9c9f9aca3fb217069a41028"},
    {"6610b25967cdcca9d59875f5cb50b0ea75433311869e930b",
        "gravity machine north sort system female filter attitude "
        "volume fold club stay feature office ecology stable narrow "
        "fog",
        "628c3827a8823298ee685db84f55caa34b5cc195a778e52d45f59bcf75aba68e"
        "4d7590e101dc414bc1bbd5737666fbbef35d1f1903953b66624f910feef245ac"},
    {"68a79eaca2324873eacc50cb9c6eca8cc68ea5d936f98787c60c7ebc74e6ce7c",
        "hamster diagram private dutch cause delay private meat "
        "slide toddler razor book happy fancy gospel tennis maple "
        "dilemma loan word shrug inflict delay length",
        "64c87cde7e12ecf6704ab95bb1408bef047c22db4cc7491c4271d170a1b213d2"
        "0b385bc1588d9c7b38f1b39d415665b8a9030c9ec653d75e65f847d8fc1fc440"},
    {"c0ba5a8e914111210f2bd131f3d5e08d",
        "scheme spot photo card baby mountain device kick cradle "
        "pact join borrow",
        "ea725895aaae8d4c1cf682c1bfd2d358d52ed9f0f0591131b559e2724bb234fc"
        "a05aa9c02c57407e04ee9dc3b454aa63fbff483a8b11de949624b9f1831a9612"},
    {"6d9be1ee6ebd27a258115aad99b7317b9c8d28b6d76431c3",
        "horn tenant knee talent sponsor spell gate clip pulse soap "
        "slush warm silver nephew swap uncle crack brave",
        "fd579828af3da1d32544ce4db5c73d53fc8acc4ddb1e3b251a31179cdb71e853"
        "c56d2fcb11aed39898ce6c34b10b5382772db8796e52837b54468aeb312cfc3d"},
    {"9f6a2878b2520799a44ef18bc7df394e7061a224d2c33cd015b157d746869863",
        "panda eyebrow bullet gorilla call smoke muffin taste mesh "
        "discover soft ostrich alcohol speed nation flash devote "
        "level hobby quick inner drive ghost inside",
        "72be8e052fc4919d2adf28d5306b5474b0069df35b02303de8c1729c9538dbb6"
        "fc2d731d5f832193cd9fb6aeecbc469594a70e3dd50811b5067f3b88b28c3e8d"},
    {"23db8160a31d3e0dca3688ed941adbf3",
        "cat swing flag economy stadium alone churn speed unique "
        "patch report train",
        "deb5f45449e615feff5640f2e49f933ff51895de3b4381832b3139941c57b592"
        "05a42480c52175b6efcffaa58a2503887c1e8b363a707256bdd2b587b46541f5"},
    {"8197a4a47f0425faeaa69deebc05ca29c0a5b5cc76ceacc0",
        "light rule cinnamon wrap drastic word pride squirrel "
        "upgrade then income fatal apart sustain crack supply proud "
        "access",
        "4cbdff1ca2db800fd61cae72a57475fdc6bab03e441fd63f96dabd1f183ef5b7"
        "82925f00105f318309a7e9c3ea6967c7801e46c8a58082674c860a37b93eda02"},
    {"066dca1a2bb7e8a1db2832148ce9933eea0f3ac9548d793112d9a95c9407efad",
        "all hour make first leader extend hole alien behind guard "
        "gospel lava path output census museum junior mass reopen "
        "famous sing advance salt reform",
        "26e975ec644423f4a4c4f4215ef09b4bd7ef924e85d1d17c4cf3f136c2863cf6"
        "df0a475045652c57eb5fb41513ca2a2d67722b77e954b4b3fc11f7590449191d"},
    {"f30f8c1da665478f49b001d94c5fc452",
        "vessel ladder alter error federal sibling chat ability sun "
        "glass valve picture",
        "2aaa9242daafcee6aa9d7269f17d4efe271e1b9a529178d7dc139cd18747090b"
        "f9d60295d0ce74309a78852a9caadf0af48aae1c6253839624076224374bc63f"},
    {"c10ec20dc3cd9f652c7fac2f1230f7a3c828389a14392f05",
        "scissors invite lock maple supreme raw rapid void congress "
        "muscle digital elegant little brisk hair mango congress "
        "clump",
        "7b4a10be9d98e6cba265566db7f136718e1398c71cb581e1b2f464cac1ceedf4"
        "f3e274dc270003c670ad8d02c4558b2f8e39edea2775c9e232c7cb798b069e88"},
    {"f585c11aec520db57dd353c69554b21a89b20fb0650966fa0a9d6f74fd989d8f",
        "void come effort suffer camp survey warrior heavy shoot "
        "primary clutch crush open amazing screen patrol group "
        "space point ten exist slush involve unfold",
        "01f5bced59dec48e362f2c45b5de68b9fd6c92c6634f44d6d40aab69056506f0"
        "e35524a518034ddc1192e1dacd32c1ed3eaa3c3b131c88ed8e7e54c49a5d0998"},
};

#define NVECTORS (sizeof vectors / sizeof vectors[0])

/* Decodes hex into out (at most max bytes); returns the byte count. */
static size_t
unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t len;

	assert_int_equal(
	    sodium_hex2bin(out, max, hex, strlen(hex), NULL, &len, NULL), 0);
	return len;
}

static void
assert_seed(const unsigned char seed[BIP39_SEED_LEN], const char *hex)
{
	char got[2 * BIP39_SEED_LEN + 1];

	sodium_bin2hex(got, sizeof got, seed, BIP39_SEED_LEN);
	assert_string_equal(got, hex);
}

static size_t
count_words(const char *s)
{
	size_t n = 1;

	for (; *s != '\0'; s++)
		n += *s == ' ';
	return n;
}

static void
test_list_is_the_standard_one(void **state)
{
	crypto_hash_sha256_state st;
	unsigned char            sum[32];
	char                     hex[65];
	unsigned                 i;

	/* The file's SHA-256: every word followed by a newline. */
	crypto_hash_sha256_init(&st);
	for (i = 0; i < BIP39_WORDS; i++) {
		crypto_hash_sha256_update(&st,
		    (const unsigned char *)bip39_word(i),
		    strlen(bip39_word(i)));
		crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
	}
	crypto_hash_sha256_final(&st, sum);
	sodium_bin2hex(hex, sizeof hex, sum, sizeof sum);
	assert_string_equal(hex,
	    "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda");

	assert_string_equal(bip39_word(0), "abandon");
	assert_string_equal(bip39_word(2047), "zoo");
	assert_null(bip39_word(2048));
}

static void
test_every_word_found_at_its_place(void **state)
{
	unsigned i;

	for (i = 0; i < BIP39_WORDS; i++)
		assert_int_equal(bip39_word_index(bip39_word(i)), (int)i);
}

static void
test_non_words_not_found(void **state)
{
	static const char *const bad[] = {"", "a", "abando", "abandonn",
	    "Abandon", "ABOUT", "zo", "zooo", "abandon ", " zoo", "wiggwigg",
	    "abandonabandon", "caf\xc3\xa9"};
	size_t                   i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(bip39_word_index(bad[i]), -ENOENT);
}

static void
test_vectors_entropy_to_mnemonic(void **state)
{
	unsigned char ent[BIP39_ENTROPY_MAX];
	char          out[BIP39_MNEMONIC_MAX];
	size_t        i, len;

	for (i = 0; i < NVECTORS; i++) {
		len = unhex(vectors[i].entropy, ent, sizeof ent);
		assert_int_equal(
		    bip39_from_entropy(ent, len, out, sizeof out), 0);
		assert_string_equal(out, vectors[i].mnemonic);
	}
}

static void
test_vectors_mnemonic_to_entropy(void **state)
{
	unsigned char want[BIP39_ENTROPY_MAX], got[BIP39_ENTROPY_MAX];
	size_t        i, len, wlen;

	for (i = 0; i < NVECTORS; i++) {
		wlen = unhex(vectors[i].entropy, want, sizeof want);
		len = 0;
		assert_int_equal(
		    bip39_to_entropy(vectors[i].mnemonic, got, &len), 0);
		assert_int_equal(len, wlen);
		assert_memory_equal(got, want, wlen);
		assert_int_equal(bip39_check(vectors[i].mnemonic), 0);
	}
}

static void
test_vectors_seed(void **state)
{
	unsigned char seed[BIP39_SEED_LEN];
	size_t        i;

	for (i = 0; i < NVECTORS; i++) {
		assert_int_equal(
		    bip39_to_seed(vectors[i].mnemonic, "TREZOR", seed), 0);
		assert_seed(seed, vectors[i].seed);
	}
}

static void
test_bad_checksum(void **state)
{
	/* Every word is on the list; the reference rejects each phrase. */
	static const char *const bad[] = {
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon",
	    "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo",
	    "winner legal thank year wave sausage worth useful legal winner "
	    "thank yellow",
	    "legal winner thank year wave sausage worth useful legal winner "
	    "thank year",
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon abandon abandon abandon",
	};
	unsigned char ent[BIP39_ENTROPY_MAX], seed[BIP39_SEED_LEN];
	size_t        i, len;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(ent, 0xaa, sizeof ent);
		assert_int_equal(bip39_to_entropy(bad[i], ent, &len), -EBADMSG);
		assert_true(sodium_is_zero(ent, sizeof ent));
		memset(seed, 0xaa, sizeof seed);
		assert_int_equal(bip39_to_seed(bad[i], "", seed), -EBADMSG);
		assert_true(sodium_is_zero(seed, sizeof seed));
	}
}

static void
test_word_not_on_list(void **state)
{
	static const char *const bad[] = {
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandonn about",
	    "Abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon about",
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon about\n",
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon\tabout abandon",
	};
	unsigned char ent[BIP39_ENTROPY_MAX], seed[BIP39_SEED_LEN];
	size_t        i, len;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(bip39_to_entropy(bad[i], ent, &len), -ENOENT);
		assert_int_equal(bip39_check(bad[i]), -ENOENT);
		assert_int_equal(bip39_to_seed(bad[i], NULL, seed), -ENOENT);
	}
}

static void
test_wrong_form(void **state)
{
	static const char *const bad[] = {
	    "",
	    "abandon",
	    /* 11, 13, 14 and 25 words */
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon about",
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon about",
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon about",
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon abandon abandon abandon abandon abandon "
	    "art",
	    /* spaces other than single ones between words */
	    " " ABOUT,
	    ABOUT " ",
	    "abandon  abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon abandon about",
	    /* the form is judged before the words */
	    "xyzzy abandon abandon abandon abandon abandon abandon abandon "
	    "abandon abandon about",
	};
	unsigned char ent[BIP39_ENTROPY_MAX];
	size_t        i, len;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(bip39_to_entropy(bad[i], ent, &len), -EINVAL);
}

static void
test_errors_are_distinct_and_quote_nothing(void **state)
{
	const char *inval = bip39_strerror(-EINVAL);
	const char *noent = bip39_strerror(-ENOENT);
	const char *badmsg = bip39_strerror(-EBADMSG);

	assert_string_not_equal(inval, noent);
	assert_string_not_equal(noent, badmsg);
	assert_string_not_equal(inval, badmsg);
	assert_non_null(strstr(noent, "list"));
	assert_non_null(strstr(badmsg, "checksum"));
	assert_null(strstr(noent, "abandon"));
}

static void
test_passphrase_changes_seed(void **state)
{
	unsigned char a[BIP39_SEED_LEN], b[BIP39_SEED_LEN];

	/* The reference implementation's seed for no passphrase. */
	assert_int_equal(bip39_to_seed(ABOUT, NULL, a), 0);
	assert_seed(a,
	    "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1"
	    "9a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4");
	assert_int_equal(bip39_to_seed(ABOUT, "", b), 0);
	assert_memory_equal(a, b, sizeof a);

	assert_int_equal(bip39_to_seed(ABOUT, "TREZOR", b), 0);
	assert_memory_not_equal(a, b, sizeof a);
	assert_int_equal(bip39_to_seed(ABOUT, "trezor", a), 0);
	assert_memory_not_equal(a, b, sizeof a);
}

static void
test_passphrase_nfkd(void **state)
{
	unsigned char composed[BIP39_SEED_LEN], decomposed[BIP39_SEED_LEN];
	unsigned char lig[BIP39_SEED_LEN], plain[BIP39_SEED_LEN];

	/*
	 * U+00E9 and "e" U+0301 are one text.  The value is the reference
	 * implementation's, and is not what NFC would give.
	 */
	assert_int_equal(bip39_to_seed(ABOUT, "\xc3\xa9", composed), 0);
	assert_int_equal(bip39_to_seed(ABOUT, "e\xcc\x81", decomposed), 0);
	assert_memory_equal(composed, decomposed, sizeof composed);
	assert_seed(composed,
	    "f37f8652bf7004d4bd4ba7702e70e647f54965758656423dde58d64fa725c1e8"
	    "be1b0416864e10f714c0730e46f9676079b4fd4f72fcf0c09a120ae65589c091");

	/* The compatibility part of NFKD: the ligature U+FB01 is "fi". */
	assert_int_equal(bip39_to_seed(ABOUT, "\xef\xac\x81", lig), 0);
	assert_int_equal(bip39_to_seed(ABOUT, "fi", plain), 0);
	assert_memory_equal(lig, plain, sizeof lig);
	assert_seed(lig,
	    "6f8c92074395505f20fb58dee916a71167cca6b574bcfb870fbbd086931f51a7"
	    "e1d812948405326fbe13783e989776629a0eb5c4e28468991c79a2e4a56f17d8");
}

static void
test_passphrase_not_utf8(void **state)
{
	unsigned char seed[BIP39_SEED_LEN];

	memset(seed, 0xaa, sizeof seed);
	assert_int_equal(bip39_to_seed(ABOUT, "\xff", seed), -EILSEQ);
	assert_true(sodium_is_zero(seed, sizeof seed));
	assert_int_equal(bip39_to_seed(ABOUT, "e\xcc", seed), -EILSEQ);
}

static void
test_generate_round_trips(void **state)
{
	static const size_t counts[] = {12, 15, 18, 21, 24};
	unsigned char       ent[BIP39_ENTROPY_MAX];
	char                a[BIP39_MNEMONIC_MAX], b[BIP39_MNEMONIC_MAX];
	size_t              i, len;

	for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		assert_int_equal(bip39_generate(counts[i], a, sizeof a), 0);
		assert_int_equal(count_words(a), counts[i]);
		assert_int_equal(bip39_to_entropy(a, ent, &len), 0);
		assert_int_equal(len, counts[i] * 4 / 3);

		assert_int_equal(bip39_from_entropy(ent, len, b, sizeof b), 0);
		assert_string_equal(a, b);

		/* 128 bits or more from the random source never repeat. */
		assert_int_equal(bip39_generate(counts[i], b, sizeof b), 0);
		assert_string_not_equal(a, b);
	}
}

static void
test_generate_other_counts_refused(void **state)
{
	static const size_t counts[] = {
	    0, 1, 3, 6, 9, 11, 13, 14, 16, 23, 25, 27, 48, (size_t)-12};
	char   out[BIP39_MNEMONIC_MAX];
	size_t i;

	for (i = 0; i < sizeof counts / sizeof counts[0]; i++)
		assert_int_equal(
		    bip39_generate(counts[i], out, sizeof out), -EINVAL);
}

static void
test_entropy_lengths(void **state)
{
	static const size_t bad[] = {0, 4, 12, 15, 17, 31, 33, 64};
	unsigned char       ent[64] = {0};
	char                out[BIP39_MNEMONIC_MAX];
	size_t              i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(
		    bip39_from_entropy(ent, bad[i], out, sizeof out), -EINVAL);
}

static void
test_output_space(void **state)
{
	unsigned char ent[BIP39_ENTROPY_MAX];
	char          out[BIP39_MNEMONIC_MAX];
	size_t        len = unhex(vectors[0].entropy, ent, sizeof ent);
	size_t        need = strlen(vectors[0].mnemonic) + 1;

	assert_int_equal(bip39_from_entropy(ent, len, out, need - 1), -ENOSPC);
	assert_int_equal(bip39_from_entropy(ent, len, out, need), 0);
	assert_string_equal(out, vectors[0].mnemonic);

	/* The longest phrase: 24 words of 8 letters, 23 spaces, a NUL. */
	for (len = 0; len < BIP39_WORDS; len++)
		assert_true(strlen(bip39_word((unsigned)len)) <= 8);
	assert_int_equal(BIP39_MNEMONIC_MAX, 24 * 8 + 23 + 1);
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
	    cmocka_unit_test(test_list_is_the_standard_one),
	    cmocka_unit_test(test_every_word_found_at_its_place),
	    cmocka_unit_test(test_non_words_not_found),
	    cmocka_unit_test(test_vectors_entropy_to_mnemonic),
	    cmocka_unit_test(test_vectors_mnemonic_to_entropy),
	    cmocka_unit_test(test_vectors_seed),
	    cmocka_unit_test(test_bad_checksum),
	    cmocka_unit_test(test_word_not_on_list),
	    cmocka_unit_test(test_wrong_form),
	    cmocka_unit_test(test_errors_are_distinct_and_quote_nothing),
	    cmocka_unit_test(test_passphrase_changes_seed),
	    cmocka_unit_test(test_passphrase_nfkd),
	    cmocka_unit_test(test_passphrase_not_utf8),
	    cmocka_unit_test(test_generate_round_trips),
	    cmocka_unit_test(test_generate_other_counts_refused),
	    cmocka_unit_test(test_entropy_lengths),
	    cmocka_unit_test(test_output_space),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
