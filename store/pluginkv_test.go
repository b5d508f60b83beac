package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/retain-crm/retain/core"
)

func TestPluginKV(t *testing.T) {
	ctx := context.Background()
	db := openTestKV(t)
	// Two plugins whose names are prefixes of each other must not see each
	// other's keys (the length byte keeps "ab"+"c..." apart from "abc"+"...").
	must(t, db.PluginKVPut(ctx, "ab", "c-key", []byte("ab's")))
	must(t, db.PluginKVPut(ctx, "abc", "-key", []byte("abc's")))
	for i := range 5 {
		must(t, db.PluginKVPut(ctx, "abc", fmt.Sprintf("k%d", i), []byte{byte(i)}))
	}
	if v, ok, err := db.PluginKVGet(ctx, "ab", "c-key"); err != nil || !ok || string(v) != "ab's" {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if _, ok, _ := db.PluginKVGet(ctx, "ab", "-key"); ok {
		t.Fatal("plugin ab sees abc's key")
	}
	items, next, err := db.PluginKVList(ctx, "abc", "k", "", 2)
	if err != nil || len(items) != 2 || items[0].Key != "k0" || next != "k1" {
		t.Fatalf("page 1: %+v %q %v", items, next, err)
	}
	items, next, _ = db.PluginKVList(ctx, "abc", "k", next, 10)
	if len(items) != 3 || items[0].Key != "k2" || next != "" {
		t.Fatalf("page 2: %+v %q", items, next)
	}
	all, _, _ := db.PluginKVList(ctx, "ab", "", "", 0)
	if len(all) != 1 {
		t.Fatalf("ab lists %+v", all)
	}
	must(t, db.PluginKVDelete(ctx, "abc", "k0"))
	if _, ok, _ := db.PluginKVGet(ctx, "abc", "k0"); ok {
		t.Fatal("deleted key still there")
	}
	must(t, db.PluginKVDrop(ctx, "abc"))
	if rest, _, _ := db.PluginKVList(ctx, "abc", "", "", 0); len(rest) != 0 {
		t.Fatalf("after drop: %+v", rest)
	}
	if v, ok, _ := db.PluginKVGet(ctx, "ab", "c-key"); !ok || !bytes.Equal(v, []byte("ab's")) {
		t.Fatal("drop of abc removed ab's key")
	}
}

func TestPluginKVRefusals(t *testing.T) {
	ctx := context.Background()
	db := openTestKV(t)
	for _, tc := range []struct {
		name, plugin, key string
		value             []byte
		kind              error
	}{
		{"empty key", "p", "", nil, core.ErrInvalid},
		{"long key", "p", strings.Repeat("k", MaxPluginKVKey+1), nil, core.ErrInvalid},
		{"no plugin", "", "k", nil, core.ErrInvalid},
		{"long plugin", strings.Repeat("p", 65), "k", nil, core.ErrInvalid},
		{"huge value", "p", "k", make([]byte, MaxPluginKVValue+1), core.ErrTooLarge},
	} {
		if err := db.PluginKVPut(ctx, tc.plugin, tc.key, tc.value); !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
		}
	}
	if _, _, err := db.PluginKVList(ctx, "p", "", "", 1001); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("limit 1001: %v", err)
	}
}

func openTestKV(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), t.TempDir()+"/retain.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
