// Declarations only (CCryptoShim.h): the functions are BoringSSL's, linked from swift-crypto.
#include "CCryptoShim.h"
