package http

import (
	"context"
	"sync"
	"time"

	"github.com/livebill/livebill"
)

// KeyCacheTTL bounds how long a stored key read for one request is used
// for the next ones without reading it again: a key revoked through this
// server is refused from its next request (the revocation forgets it
// here), a key revoked through another server sharing the database (or
// deleted with its account's data) is refused here within KeyCacheTTL.
// A busy key is so read from the store once a second, not on every
// request.
const KeyCacheTTL = time.Second

// maxCachedKeys bounds the cache; past it, it starts over empty. Only keys
// found in the store are kept (an unknown id reads the store every time,
// as without a cache), so its size is at most the stored keys in use.
const maxCachedKeys = 10_000

// keyCache holds the stored keys recent requests were authenticated
// with, each with when it was read. The zero value is ready.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]cachedKey // by key id
	// gen counts forgets: a read that began before one is not kept (it
	// may hold the key as it was before its revocation)
	gen uint64
}

type cachedKey struct {
	key  *livebill.Key
	read time.Time // when its store read began
}

// find returns the stored key id, from the cache when it was read less
// than KeyCacheTTL before now, else from store.
func (c *keyCache) find(ctx context.Context, store livebill.KeyFinder, id string, now time.Time) (*livebill.Key, error) {
	c.mu.Lock()
	e, ok := c.keys[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && !now.Before(e.read) && now.Sub(e.read) < KeyCacheTTL {
		return e.key, nil
	}
	k, err := store.FindKey(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen { // forgotten meanwhile: this read may be older
		return k, nil
	}
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = map[string]cachedKey{}
	}
	c.keys[id] = cachedKey{key: k, read: now}
	return k, nil
}

// forget drops a key, so that its next request reads it from the store.
func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.keys, id)
	c.gen++
}

// cachedKeys is the server's store of keys seen through its key cache.
type cachedKeys struct{ s *Server }

func (k cachedKeys) FindKey(ctx context.Context, id string) (*livebill.Key, error) {
	return k.s.keys.find(ctx, k.s.Store, id, k.s.now())
}
