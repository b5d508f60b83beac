package host_test

import (
	"testing"

	"github.com/retain-crm/retain/core"
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
