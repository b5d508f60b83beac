// Package auth holds the credential primitives: argon2id password hashes in
// PHC string form and API token secrets (random, shown once, stored as a
// SHA-256 hash). It imports the standard library, core and x/crypto only.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/retain-crm/retain/core"
)

// Argon2id parameters: the RFC 9106 "second recommended" option scaled to a
// small server (64 MiB, 3 passes), about 60 ms on one core.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
	saltLen      = 16
)

// Password length limits. The upper one keeps hashing cost bounded for
// hostile input.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// CheckPasswordPolicy refuses passwords too short to be safe.
func CheckPasswordPolicy(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return core.FieldErr("password", "at least %d characters", MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return core.FieldErr("password", "at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns an argon2id PHC string for pw.
func HashPassword(pw string) (string, error) {
	if err := CheckPasswordPolicy(pw); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	c := cost{argonTime, argonMemory, argonThreads}
	if testCost.Load() {
		c = cost{1, 64, 1}
	}
	key := argon2.IDKey([]byte(pw), salt, c.time, c.memory, c.threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, c.memory, c.time, c.threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type cost struct {
	time, memory uint32
	threads      uint8
}

// testCost makes new hashes nearly free. Only tests set it (UseTestCost):
// suites that create hundreds of accounts would otherwise spend minutes in
// argon2, more so under -race. Verification always uses the parameters
// written in the hash, so hashes made either way verify the same.
var testCost atomic.Bool

// UseTestCost makes HashPassword use minimal argon2id parameters from now
// on. For tests only; never called by the product.
func UseTestCost() { testCost.Store(true) }

// VerifyPassword reports whether pw matches the PHC string hash. A malformed
// hash is an error, not a silent mismatch.
func VerifyPassword(hash, pw string) (bool, error) {
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("auth: not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("auth: unsupported argon2 version")
	}
	var mem, tm uint32
	var thr uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &tm, &thr); err != nil || mem > 1<<22 || tm > 100 || thr == 0 {
		return false, fmt.Errorf("auth: bad argon2 parameters")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("auth: bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, fmt.Errorf("auth: bad key")
	}
	got := argon2.IDKey([]byte(pw), salt, tm, mem, thr, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// TokenPrefix starts every API token secret so that secret scanners and
// people can recognise one.
const TokenPrefix = "rtn_"

var tokenEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewToken returns a fresh secret (shown to the user once), the prefix kept
// to tell tokens apart, and the hash to store.
func NewToken() (secret, prefix string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", nil, err
	}
	secret = TokenPrefix + strings.ToLower(tokenEnc.EncodeToString(b))
	return secret, secret[:len(TokenPrefix)+6], HashToken(secret), nil
}

// HashToken is the stored form of a token secret. Secrets carry 256 random
// bits, so a fast hash is enough (no stretching needed).
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewSecret returns n random bytes as URL-safe base64, for session ids,
// CSRF tokens and one-time setup links.
func NewSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
