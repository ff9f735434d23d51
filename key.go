package livebill

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// API keys. A key is a random secret shown once, when it is made; the
// store keeps only its SHA-256 (enough for a high-entropy secret: there is
// nothing to guess from the hash). The secret carries its public id, so a
// request's key is found by id and compared by hash in constant time.
//
//	lbk_<id: 16 hex digits>_<secret: 32 random bytes, base64url>
//
// A key with no account is an operator (admin) key: every route. A key of
// an account reads only that account and pushes events only for its apps.

// KeyPrefix starts every key livebill makes, so a leaked one is easy to
// recognise (secret scanners, logs).
const KeyPrefix = "lbk_"

const (
	keyIDLen     = 16 // hex digits of the public id (8 random bytes)
	keySecretLen = 43 // base64url, unpadded, of 32 random bytes
	keyLen       = len(KeyPrefix) + keyIDLen + 1 + keySecretLen
)

// MinAdminKeyLen is the shortest operator key accepted from the
// environment or a file ($LIVEBILL_ADMIN_KEY): 32 characters.
const MinAdminKeyLen = 32

// Key is an API key as stored: its id, name, scope and times, never its
// secret.
type Key struct {
	ID        string
	Name      string
	AccountID string // "" for an operator (admin) key
	Hash      []byte // SHA-256 of the whole key
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is valid
}

// Admin reports whether the key is an operator key.
func (k *Key) Admin() bool { return k.AccountID == "" }

// Revoked reports whether the key was revoked.
func (k *Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// Matches reports, in constant time, whether secret is this key.
func (k *Key) Matches(secret string) bool {
	h := HashKey(secret)
	return subtle.ConstantTimeCompare(h, k.Hash) == 1
}

// HashKey is what the store keeps of a key: its SHA-256.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// KeyID returns the public id a key made by NewKey carries, and false for
// anything else.
func KeyID(secret string) (string, bool) {
	if len(secret) != keyLen || !strings.HasPrefix(secret, KeyPrefix) || secret[len(KeyPrefix)+keyIDLen] != '_' {
		return "", false
	}
	id := secret[len(KeyPrefix) : len(KeyPrefix)+keyIDLen]
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

// NewKey makes a key for in: the Key to store (hash only) and the secret
// to show once.
func NewKey(in *CreateKeyInput, now time.Time) (*Key, string, error) {
	if err := in.Validate(); err != nil {
		return nil, "", err
	}
	var b [8 + 32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", fmt.Errorf("cannot make a key: %w", err)
	}
	id := hex.EncodeToString(b[:8])
	secret := KeyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[8:])
	k := &Key{ID: id, Name: in.Name, AccountID: in.AccountID, Hash: HashKey(secret), CreatedAt: now.UTC()}
	return k, secret, nil
}

// CreateKeyInput asks for a key: of an account, or an operator key when
// AccountID is empty.
type CreateKeyInput struct {
	AccountID string `json:"account,omitempty"`
	Name      string `json:"name,omitempty"`
}

// MaxKeyNameLen bounds a key's name (bytes).
const MaxKeyNameLen = 200

// Validate reports every problem with the input, joined.
func (in *CreateKeyInput) Validate() error {
	var errs []error
	if len(in.Name) > MaxKeyNameLen {
		errs = append(errs, Errorf(EINVALID, "name: longer than %d bytes", MaxKeyNameLen))
	}
	if !utf8.ValidString(in.Name) || strings.ContainsRune(in.Name, 0) {
		errs = append(errs, Errorf(EINVALID, "name: must be UTF-8 text without NUL"))
	}
	if !utf8.ValidString(in.AccountID) || strings.ContainsRune(in.AccountID, 0) {
		errs = append(errs, Errorf(EINVALID, "account: must be UTF-8 text without NUL"))
	}
	return errors.Join(errs...)
}

// KeyService stores API keys (hashes only).
type KeyService interface {
	// CreateKey stores a key made by NewKey; ENOTFOUND if it names an
	// account that does not exist.
	CreateKey(ctx context.Context, k *Key) error
	// FindKey returns a key (revoked ones too) or ENOTFOUND.
	FindKey(ctx context.Context, id string) (*Key, error)
	// ListKeys pages through the keys in the order made.
	ListKeys(ctx context.Context, p Page) (keys []*Key, next string, err error)
	// RevokeKey revokes a key (again: no change) and returns it.
	RevokeKey(ctx context.Context, id string) (*Key, error)
	// HasAdminKey reports whether an operator key that is not revoked is
	// stored.
	HasAdminKey(ctx context.Context) (bool, error)
}

// AdminKeyID is the principal of the operator key a server is started
// with ($LIVEBILL_ADMIN_KEY): it is not stored, so it has no stored id.
const AdminKeyID = "admin"

// Principal is who a key says is asking: an operator (Account "") or one
// account.
type Principal struct {
	KeyID   string
	Account string
}

// Admin reports whether the principal is an operator.
func (p Principal) Admin() bool { return p.Account == "" }

// Authenticate finds whose key secret is: the operator key adminKey a
// server was started with ("" for none), or a stored key that matches and
// is not revoked. An unknown, malformed or revoked key is EUNAUTHORIZED;
// keys may be nil (only adminKey is then known).
func Authenticate(ctx context.Context, keys KeyService, adminKey, secret string) (Principal, error) {
	if adminKey != "" && subtle.ConstantTimeCompare(HashKey(secret), HashKey(adminKey)) == 1 {
		return Principal{KeyID: AdminKeyID}, nil
	}
	invalid := Errorf(EUNAUTHORIZED, "the API key is not valid")
	id, ok := KeyID(secret)
	if !ok || keys == nil {
		return Principal{}, invalid
	}
	k, err := keys.FindKey(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return Principal{}, invalid
	}
	if err != nil {
		return Principal{}, err
	}
	if !k.Matches(secret) {
		return Principal{}, invalid
	}
	if k.Revoked() {
		return Principal{}, Errorf(EUNAUTHORIZED, "the API key %s was revoked", k.ID)
	}
	return Principal{KeyID: k.ID, Account: k.AccountID}, nil
}
