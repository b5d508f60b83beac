package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/retain-crm/retain/core"
)

// Each plugin's key-value space (DESIGN.md: plugins keep no state of their
// own) is a key range of one bucket: len(1) | plugin name | key. A plugin's
// keys are contiguous and sorted, so listing by prefix is a range scan and
// one plugin can never reach another's keys (the host passes the name; the
// plugin only chooses the key).

// Limits of the plugin key-value space.
const (
	MaxPluginKVKey   = 512
	MaxPluginKVValue = 1 << 20
	maxPluginName    = 64
)

func pluginKVPrefix(plugin string) ([]byte, error) {
	if plugin == "" || len(plugin) > maxPluginName {
		return nil, core.Invalidf("plugin name must be 1 to %d bytes", maxPluginName)
	}
	p := make([]byte, 0, 1+len(plugin))
	p = append(p, byte(len(plugin)))
	return append(p, plugin...), nil
}

func pluginKVKey(plugin, key string) ([]byte, error) {
	p, err := pluginKVPrefix(plugin)
	if err != nil {
		return nil, err
	}
	if key == "" || len(key) > MaxPluginKVKey {
		return nil, core.FieldErr("key", "must be 1 to %d bytes", MaxPluginKVKey)
	}
	return append(p, key...), nil
}

// PluginKVGet returns the value of key in plugin's space.
func (db *DB) PluginKVGet(ctx context.Context, plugin, key string) ([]byte, bool, error) {
	k, err := pluginKVKey(plugin, key)
	if err != nil {
		return nil, false, err
	}
	var out []byte
	found := false
	err = db.view(ctx, func(tx *bolt.Tx) error {
		if v := bucket(tx, bPluginKV).Get(k); v != nil {
			out, found = bytes.Clone(v), true
		}
		return nil
	})
	return out, found, err
}

// PluginKVPut sets key in plugin's space.
func (db *DB) PluginKVPut(ctx context.Context, plugin, key string, value []byte) error {
	k, err := pluginKVKey(plugin, key)
	if err != nil {
		return err
	}
	if len(value) > MaxPluginKVValue {
		return fmt.Errorf("%w: value of %d bytes; at most %d", core.ErrTooLarge, len(value), MaxPluginKVValue)
	}
	if value == nil {
		value = []byte{} // bbolt stores a nil value as empty anyway; be explicit
	}
	return db.update(ctx, func(tx *bolt.Tx) error { return bucket(tx, bPluginKV).Put(k, value) })
}

// PluginKVDelete removes key from plugin's space (absent: no error).
func (db *DB) PluginKVDelete(ctx context.Context, plugin, key string) error {
	k, err := pluginKVKey(plugin, key)
	if err != nil {
		return err
	}
	return db.update(ctx, func(tx *bolt.Tx) error { return bucket(tx, bPluginKV).Delete(k) })
}

// PluginKVList returns up to limit (1..1000; 0 means 100) entries of
// plugin's space whose key starts with prefix and sorts after cursor, in
// key order; next is the cursor of the following page ("" at the end).
func (db *DB) PluginKVList(ctx context.Context, plugin, prefix, cursor string, limit int) ([]core.KVPair, string, error) {
	base, err := pluginKVPrefix(plugin)
	if err != nil {
		return nil, "", err
	}
	switch {
	case limit == 0:
		limit = 100
	case limit < 0 || limit > 1000:
		return nil, "", core.FieldErr("limit", "must be between 1 and 1000")
	}
	full := append(bytes.Clone(base), prefix...)
	var out []core.KVPair
	next := ""
	err = db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bPluginKV).Cursor()
		k, v := c.Seek(full)
		if cursor != "" {
			after := append(bytes.Clone(base), cursor...)
			if bytes.Compare(after, full) >= 0 {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
		}
		for ; k != nil && bytes.HasPrefix(k, full); k, v = c.Next() {
			if len(out) == limit {
				next = out[len(out)-1].Key
				break
			}
			out = append(out, core.KVPair{Key: string(k[len(base):]), Value: bytes.Clone(v)})
		}
		return nil
	})
	return out, next, err
}

// PluginKVDrop deletes plugin's whole space (when a plugin is removed).
func (db *DB) PluginKVDrop(ctx context.Context, plugin string) error {
	base, err := pluginKVPrefix(plugin)
	if err != nil {
		return err
	}
	return db.update(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bPluginKV)
		c := b.Cursor()
		for k, _ := c.Seek(base); k != nil && bytes.HasPrefix(k, base); k, _ = c.Seek(base) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
