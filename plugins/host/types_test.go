package host_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/retain-crm/retain/core"
	"github.com/retain-crm/retain/plugins/host"
	"github.com/retain-crm/retain/plugins/sdk"
)

type pbInbound = sdk.InboundRequest

// The outbox (core) sets the metadata keys the SDK documents to plugins;
// neither package may import the other, so this test keeps them equal.
func TestMetadataKeysAgree(t *testing.T) {
	for _, k := range [][2]string{{core.MetaHookURL, sdk.MetaHookURL}, {core.MetaOutboxID, sdk.MetaOutboxID},
		{core.MetaAttempt, sdk.MetaAttempt}} {
		if k[0] != k[1] {
			t.Errorf("core says %q, sdk says %q", k[0], k[1])
		}
	}
	for _, k := range [][2]string{{string(core.TypeDelivered), sdk.TypeDelivered}, {string(core.TypeBounced), sdk.TypeBounced},
		{string(core.TypeFailed), sdk.TypeFailed}, {string(core.TypeOpened), sdk.TypeOpened},
		{string(core.TypeClicked), sdk.TypeClicked}, {string(core.TypeReplied), sdk.TypeReplied},
		{string(core.TypeUnsubscribed), sdk.TypeUnsubscribed}} {
		if k[0] != k[1] {
			t.Errorf("interaction type: core says %q, sdk says %q", k[0], k[1])
		}
	}
}

// Each SDK kind becomes the core kind the outbox and the HTTP layer act on;
// a bounce is a permanent refusal (ErrInvalid) the outbox can still tell apart.
func TestErrorKindsToCore(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want []error
		not  []error
	}{
		{sdk.Retryablef("421"), []error{core.ErrUnavailable}, []error{core.ErrInvalid}},
		{sdk.Permanentf("554"), []error{core.ErrInvalid}, []error{core.ErrBounced, core.ErrUnavailable}},
		{sdk.FromStatus(sdk.ToStatus(sdk.Bouncedf("550 5.1.1"))), []error{core.ErrInvalid, core.ErrBounced}, []error{core.ErrUnavailable}},
		{sdk.NotFoundf("route"), []error{core.ErrNotFound}, []error{core.ErrBounced}},
		{sdk.PermissionDeniedf("forged"), []error{core.ErrForbidden}, nil},
	} {
		got := host.ToCore("p", tc.err)
		for _, w := range tc.want {
			if !errors.Is(got, w) {
				t.Errorf("%v → %v: not %v", tc.err, got, w)
			}
		}
		for _, n := range tc.not {
			if errors.Is(got, n) {
				t.Errorf("%v → %v: is %v", tc.err, got, n)
			}
		}
	}
}

func TestUnpinned(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"pinned": 0o755, "stray": 0o755, "notes.txt": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := host.Unpinned(dir, map[string]string{"pinned": "00"}); !slices.Equal(got, []string{"stray"}) {
		t.Errorf("unpinned %v, want [stray]", got)
	}
	if got := host.Unpinned(filepath.Join(dir, "none"), nil); got != nil {
		t.Errorf("missing folder: %v", got)
	}
}

// A plugin's failure reads in its own words, once: no kind words stacked.
func TestPluginErrorText(t *testing.T) {
	for in, want := range map[error]string{
		sdk.Permanentf("554 no"):                                "plugin p: 554 no",
		sdk.FromStatus(sdk.ToStatus(sdk.Bouncedf("550 5.1.1"))): "plugin p: 550 5.1.1",
		sdk.Retryablef("421 later"):                             "plugin p: 421 later",
	} {
		if got := host.ToCore("p", in).Error(); got != want {
			t.Errorf("%v: %q, want %q", in, got, want)
		}
	}
}
