package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
)

// eventLog keeps every processing event the adapter publishes while the kit runs, as it arrives on
// the register's subject, with its Nats-Msg-Id.
type eventLog struct {
	mu      sync.Mutex
	all     []publishedEvent
	arrived chan struct{}
}

type publishedEvent struct {
	data  []byte
	msgID string
}

func newEventLog() *eventLog { return &eventLog{arrived: make(chan struct{})} }

func (l *eventLog) take(msg *nats.Msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, publishedEvent{data: msg.Data, msgID: msg.Header.Get(jetstream.MsgIDHeader)})
	if len(l.all) == 1 {
		close(l.arrived)
	}
}

func (l *eventLog) snapshot() []publishedEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// checkProcessingEvents judges the processing events the adapter published during the check: each
// must be a valid event of its register, carry the Nats-Msg-Id processing/<register id>/<event id>,
// and say only what the declaration declares (contracts.ProcessingEvent.CheckDeclared). A register
// that declares events and has published none yet is given the timeout to publish one; the kit
// cannot make it, since events come from the register's own work.
func (c *checker) checkProcessingEvents(ctx context.Context) {
	declared := c.decl.Processing != nil
	if declared && len(c.p.events.snapshot()) == 0 {
		select {
		case <-c.p.events.arrived:
		case <-time.After(c.cfg.Timeout):
		case <-ctx.Done():
		}
	}
	events := c.p.events.snapshot()
	subject := contracts.ProcessingSubject(c.cfg.RegisterID)
	switch {
	case !declared && len(events) == 0:
		c.add(CheckProcessingEvents, Skip, "the register declares no processing events, and published none")
		return
	case !declared:
		c.add(CheckProcessingEvents, Fail, "the adapter published %d message(s) on %s, but the declaration declares no processing "+
			"events: declare them (declaration.processing: purposes, retention) or publish none", len(events), subject)
		return
	case len(events) == 0:
		c.add(CheckProcessingEvents, Skip, "the register declares processing events, but published none within %s of the check's end; "+
			"publish one while the check runs (with the test subject's data) to have it checked", c.cfg.Timeout)
		return
	}
	var problems []string
	bad, now := 0, time.Now()
	for i, e := range events {
		before := len(problems)
		var ev contracts.ProcessingEvent
		dec := json.NewDecoder(bytes.NewReader(e.data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			problems = append(problems, fmt.Sprintf("event %d is not a processing event: %v", i+1, err))
			bad++
			continue
		}
		name := fmt.Sprintf("event %q", ev.EventID)
		if err := ev.Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("%s does not validate: %v", name, err))
		} else if err := ev.CheckDeclared(&c.decl, now); err != nil {
			problems = append(problems, fmt.Sprintf("%s says what the declaration does not: %v", name, err))
		}
		if want := contracts.ProcessingMsgID(c.cfg.RegisterID, ev.EventID); e.msgID != want {
			problems = append(problems, fmt.Sprintf("%s carries Nats-Msg-Id %q; want %q, so that an event sent twice is stored once", name, e.msgID, want))
		}
		if len(problems) > before {
			bad++
		}
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		c.add(CheckProcessingEvents, Fail, "%d of %d event(s) on %s cannot be taken, and the platform would reject them "+
			"(contracts/PROTOCOL.md, \"Processing events\"): %s", bad, len(events), subject, strings.Join(problems, "; "))
		return
	}
	c.add(CheckProcessingEvents, Pass, "every processing event published during the check (%d) is valid, declared and carries its Nats-Msg-Id", len(events))
}
