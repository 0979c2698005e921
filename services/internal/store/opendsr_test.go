package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"kirjaamo.dev/services/internal/store"
	"kirjaamo.dev/services/internal/store/opendsr"
	"kirjaamo.dev/workflows/request"
)

// TestAControllersRequestIsKeptOnceAndItsCallbacksFollowTheCase keeps an OpenDSR controller's
// request: saved twice it is the first, its case names the controller as requester on the record,
// and it is unsent while the case's status differs from the one its callbacks were last told.
func TestAControllersRequestIsKeptOnceAndItsCallbacksFollowTheCase(t *testing.T) {
	s, ctx := open(t), context.Background()
	o := opendsr.New(s.db)
	const subjectRequestID = "a7551968-d5d6-44b2-9831-815ac9017798"
	in := aino()
	in.Channel, in.Requester = request.ChannelAPI, "Kela"
	first := opendsr.Request{ControllerID: "kela", SubjectRequestID: subjectRequestID, RequestID: requestID, ReceivedAt: received,
		Deadline: in.Receipt.Deadline, CallbackURLs: []string{"https://kela.example/opengdpr_callbacks"}}
	kept, err := o.Save(ctx, first)
	if err != nil || kept.RequestID != requestID || !slices.Equal(kept.CallbackURLs, first.CallbackURLs) || kept.Status != "" {
		t.Fatalf("saved %+v, %v", kept, err)
	}
	again := first
	again.ReceivedAt = received.Add(1e9)
	again.CallbackURLs = nil
	if kept, err := o.Save(ctx, again); err != nil || !kept.ReceivedAt.Equal(received) || len(kept.CallbackURLs) != 1 {
		t.Fatalf("saved again %+v, %v: want the first", kept, err)
	}
	if _, err := o.Find(ctx, "other", subjectRequestID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another controller's: %v, want not found", err)
	}
	if list, err := o.Unsent(ctx, 10); err != nil || len(list) != 0 {
		t.Fatalf("unsent before the case is stored: %v, %v", list, err)
	}

	if err := s.cases.Record(ctx, in); err != nil {
		t.Fatal(err)
	}
	c, err := s.cases.Case(ctx, requestID)
	if err != nil || c.Requester != "Kela" {
		t.Fatalf("case %+v, %v", c, err)
	}
	trail, err := s.record.Trail(ctx, requestID)
	if err != nil || len(trail) != 1 || trail[0].Actor != "Kela" || trail[0].Role != "controller" {
		t.Fatalf("record %+v, %v", trail, err)
	}
	list, err := o.Unsent(ctx, 10)
	if err != nil || len(list) != 1 || list[0].Status != string(request.StatusReceived) {
		t.Fatalf("unsent %+v, %v", list, err)
	}
	if err := o.MarkSent(ctx, requestID, list[0].Status); err != nil {
		t.Fatal(err)
	}
	if list, err := o.Unsent(ctx, 10); err != nil || len(list) != 0 {
		t.Fatalf("unsent once told: %+v, %v", list, err)
	}
	if found, err := o.Find(ctx, "kela", subjectRequestID); err != nil || found.StatusSent != string(request.StatusReceived) {
		t.Fatalf("found %+v, %v", found, err)
	}
}
