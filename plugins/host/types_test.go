package host_test

import "github.com/retain-crm/retain/plugins/sdk"

type pbInbound = sdk.InboundRequest
