package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/retain-crm/retain/core"
)

// MaxInboundItems bounds what one inbound request may record.
const MaxInboundItems = 1000

// HandleInbound hands a request to /hooks/{plugin}/... to the plugin and
// records what it reports: interactions on the customers' timelines and
// consent changes. The plugin checks signatures; the host checks that a
// message the plugin names belongs to one of its own channels, so a plugin
// can only report on what it sent. Interactions whose customer cannot be
// found are skipped (and logged): a receipt for an erased customer is not
// an error for the caller.
func (s *Service) HandleInbound(ctx context.Context, plugin string, r core.InboundRequest) (core.InboundParsed, error) {
	if s.o.Channels == nil {
		return core.InboundParsed{}, fmt.Errorf("%w: no plugins run", core.ErrUnavailable)
	}
	parsed, err := s.o.Channels.ParseInbound(ctx, plugin, r)
	if err != nil {
		return core.InboundParsed{}, err
	}
	if len(parsed.Interactions)+len(parsed.Consent) > MaxInboundItems {
		return core.InboundParsed{}, fmt.Errorf("%w: plugin %s reported more than %d items for one request", core.ErrTooLarge, plugin, MaxInboundItems)
	}
	channels := s.channelsOf(plugin)
	now := s.now()
	bodySum := sha256.Sum256(r.Body)
	var ins []core.Interaction
	skipped := 0
	for i, it := range parsed.Interactions {
		in := it.Interaction
		cid, err := s.resolve(ctx, plugin, channels, it)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				skipped++
				continue
			}
			return core.InboundParsed{}, err
		}
		in.CustomerID = cid
		if in.Channel == "" && len(channels) > 0 {
			in.Channel = core.Channel(channels[0])
		}
		// Namespaced, so a plugin's keys never collide with another
		// source's; without a key, the body and position make one, so the
		// same request replayed stores nothing new.
		if in.IdempotencyKey != "" {
			in.IdempotencyKey = "plugin:" + plugin + ":" + in.IdempotencyKey
		} else {
			in.IdempotencyKey = fmt.Sprintf("plugin:%s:body:%s:%d", plugin, hex.EncodeToString(bodySum[:12]), i)
		}
		if len(in.IdempotencyKey) > core.MaxIdemKeyLen {
			sum := sha256.Sum256([]byte(in.IdempotencyKey))
			in.IdempotencyKey = "plugin:" + plugin + ":h:" + hex.EncodeToString(sum[:16])
		}
		if it.MessageKey != "" || it.ProviderID != "" {
			if in.Properties == nil {
				in.Properties = map[string]string{}
			}
			if it.MessageKey != "" {
				in.Properties["message_key"] = it.MessageKey
			}
			if it.ProviderID != "" {
				in.Properties["provider_id"] = it.ProviderID
			}
		}
		// Money comes in through the API and imports, not receipts: a
		// channel plugin cannot make purchases (or refunds) up.
		if in.Amount != 0 || in.Type == core.TypePurchase || in.Type == core.TypeRefund {
			return core.InboundParsed{}, core.Invalidf("plugin %s reported a %s with an amount; channel plugins report messaging events, not money", plugin, in.Type)
		}
		if in.Time.IsZero() || in.Time.After(now.Add(time.Hour)) {
			in.Time = now
		}
		if err := s.o.Service.PrepareInteraction(&in, now); err != nil {
			return core.InboundParsed{}, fmt.Errorf("plugin %s reported a bad interaction: %w", plugin, err)
		}
		ins = append(ins, in)
	}
	for _, c := range parsed.Consent {
		if c.Channel == "" {
			return core.InboundParsed{}, core.Invalidf("plugin %s reported a consent change without a channel", plugin)
		}
		// Withdrawing is always honoured (the safe side); granting only for
		// a channel the plugin itself serves (an SMS "START" reply).
		if c.Granted && !slices.Contains(channels, string(c.Channel)) {
			return core.InboundParsed{}, fmt.Errorf("%w: plugin %s may grant consent only for its own channels, not %s",
				core.ErrForbidden, plugin, c.Channel)
		}
		cid, err := s.resolveRef(ctx, c.Customer)
		if err != nil {
			if errors.Is(err, core.ErrNotFound) {
				skipped++
				continue
			}
			return core.InboundParsed{}, err
		}
		at := c.At
		if at.IsZero() || at.After(now) {
			at = now
		}
		src := "plugin " + plugin
		if c.Source != "" {
			src += ": " + c.Source
		}
		_, err = s.o.Service.UpdateCustomer(ctx, cid, core.CustomerPatch{Consent: map[core.Channel]*core.Consent{
			c.Channel: {Granted: c.Granted, At: at, Source: truncate(src, 200)}}}, "plugin "+plugin)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return core.InboundParsed{}, err
		}
	}
	if len(ins) > 0 {
		if _, err := s.o.Service.Store.AppendInteractions(ctx, ins); err != nil {
			return core.InboundParsed{}, err
		}
	}
	if skipped > 0 {
		s.log.Info("inbound: items naming no known customer were skipped", "plugin", plugin, "skipped", skipped)
	}
	return parsed, nil
}

// channelsOf lists the channels plugin serves.
func (s *Service) channelsOf(plugin string) []string {
	if s.o.Plugins == nil {
		return []string{plugin}
	}
	for _, st := range s.o.Plugins.Statuses() {
		if st.Name == plugin {
			return st.Channels
		}
	}
	return nil
}

// resolve finds the customer an inbound interaction is about.
func (s *Service) resolve(ctx context.Context, plugin string, channels []string, it core.InboundInteraction) (core.ID, error) {
	var m core.OutboxMessage
	var err error
	switch {
	case it.MessageKey != "":
		m, err = s.box.GetMessageByKey(ctx, it.MessageKey)
	case it.ProviderID != "":
		err = core.NotFoundf("message with provider id %q", it.ProviderID)
		for _, ch := range channels {
			if m, err = s.box.GetMessageByProviderID(ctx, ch, it.ProviderID); err == nil {
				break
			}
		}
	default:
		return s.resolveRef(ctx, it.Customer)
	}
	if err != nil {
		return 0, err
	}
	if !slices.Contains(channels, m.Channel) {
		return 0, fmt.Errorf("%w: plugin %s reported on message %s of channel %s, which it does not serve",
			core.ErrForbidden, plugin, m.ID, m.Channel)
	}
	return m.CustomerID, nil
}

// resolveRef finds a customer by id, external id, email or phone. An
// email or phone shared by several customers names the oldest.
func (s *Service) resolveRef(ctx context.Context, ref core.CustomerRef) (core.ID, error) {
	st := s.o.Service.Store
	switch {
	case ref.ID != 0:
		c, err := st.GetCustomer(ctx, ref.ID)
		return c.ID, err
	case ref.ExternalID != "":
		c, err := st.GetCustomerByExternalID(ctx, ref.ExternalID)
		return c.ID, err
	case ref.Email != "":
		e, err := core.NormalizeEmail(ref.Email)
		if err != nil {
			return 0, core.NotFoundf("customer with email %q", ref.Email)
		}
		cs, err := st.FindCustomersByEmail(ctx, e)
		if err != nil || len(cs) == 0 {
			return 0, core.NotFoundf("customer with email %q", ref.Email)
		}
		return cs[0].ID, nil
	case ref.Phone != "":
		p, err := core.NormalizePhone(ref.Phone, s.o.Service.DefaultCallingCode)
		if err != nil {
			return 0, core.NotFoundf("customer with phone %q", ref.Phone)
		}
		cs, err := st.FindCustomersByPhone(ctx, p)
		if err != nil || len(cs) == 0 {
			return 0, core.NotFoundf("customer with phone %q", ref.Phone)
		}
		return cs[0].ID, nil
	}
	return 0, core.NotFoundf("no customer named")
}
