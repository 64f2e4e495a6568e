// The one-shot HMAC of the BoringSSL that swift-crypto links into twofa (its symbols carry
// the CCryptoBoringSSL_ prefix; swift-crypto does not export the module itself). Declared
// here so TwofaDomain can call it with no Swift generic in between: swift-crypto's generic
// digest types are instantiated at run time, and checking their requirements scans every
// protocol conformance of the binary, a seventh of what `twofa code` executes.
#ifndef TWOFA_CCRYPTO_SHIM_H
#define TWOFA_CCRYPTO_SHIM_H

#include <stddef.h>
#include <stdint.h>

typedef struct env_md_st EVP_MD;

const EVP_MD *CCryptoBoringSSL_EVP_sha1(void);
const EVP_MD *CCryptoBoringSSL_EVP_sha256(void);
const EVP_MD *CCryptoBoringSSL_EVP_sha512(void);

// HMAC(evp_md, key, data) into out (at least 64 bytes); *out_len is set to the MAC's length.
// Returns out, or NULL on failure.
uint8_t *CCryptoBoringSSL_HMAC(const EVP_MD *evp_md, const void *key, size_t key_len, const uint8_t *data,
                               size_t data_len, uint8_t *out, unsigned int *out_len);

#endif
