package conformance

import (
	"context"
	"fmt"
	"strings"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// checkCancellation cancels a task in the register's effect record, as the platform does when the
// subject withdraws the request, before the task is sent: the adapter must answer with the
// cancellation and do nothing. The task is an erasure of the known subject where the kit may change
// data (the most visible effect: if it is carried out, the data are gone), and a lookup otherwise.
func (c *checker) checkCancellation(ctx context.Context) {
	op := contracts.Operation("")
	if !c.cfg.ReadOnly {
		for _, candidate := range effectOps {
			if c.decl.Supports(candidate) {
				op = candidate
				break
			}
		}
	}
	for _, candidate := range []contracts.Operation{contracts.OpLookup, contracts.OpListRecipients} {
		if op == "" && c.decl.Supports(candidate) {
			op = candidate
		}
	}
	if op == "" {
		c.add(CheckCancellation, Skip, "the register declares no operation the kit can send without changing data it may not change (read-only)")
		return
	}
	ids, _ := c.knownSubject()
	knownFound := ids != nil && c.lookups[CheckKnownSubject] == contracts.StatusFound
	if ids == nil {
		ids, _ = c.unknownSubject()
	}
	if ids == nil {
		c.add(CheckCancellation, Skip, "no subject to send the task for")
		return
	}
	task := c.p.newTask(op, ids)
	bucket := contracts.DoneBucket(c.cfg.RegisterID)
	cancelled, err := sdk.CancelTask(ctx, c.p.js, c.cfg.RegisterID, task.TaskID, "the subject withdrew the request (conformance kit)")
	if err != nil || !cancelled {
		c.add(CheckCancellation, Fail, "the kit could not record a cancellation in %s (%t, %v): it needs the platform's permissions", bucket, cancelled, err)
		return
	}
	howTo := fmt.Sprintf("Before any operation, lookups included, read the task id's key in the effect record %s; if it holds "+
		"a cancellation ({\"status\": \"failed\", \"error\": {\"code\": \"cancelled\", ...}}), answer that result at once, carry "+
		"nothing out, and acknowledge the task (PROTOCOL.md, \"The effect record, claims and cancellation\")", bucket)
	res, ok, err := c.p.ask(ctx, task)
	switch {
	case err != nil:
		c.add(CheckCancellation, Fail, "%v", err)
		return
	case !ok:
		c.add(CheckCancellation, Fail, "no answer within %s to %s the platform had cancelled before sending it. %s", c.cfg.Timeout, aTask(op), howTo)
		return
	}
	if r := res.Result; r.Status != contracts.StatusFailed || r.Error == nil || r.Error.Code != contracts.ErrCancelled || r.Error.Retryable {
		c.add(CheckCancellation, Fail, "%s the platform had cancelled before sending it was answered %s, not failed with code "+
			"cancelled, not retryable. %s", aTask(op), describe(r), howTo)
		return
	}
	if kv, err := c.p.js.KeyValue(ctx, bucket); err == nil {
		if e, err := kv.Get(ctx, task.TaskID); err != nil || !strings.Contains(string(e.Value()), `"cancelled"`) {
			c.add(CheckCancellation, Fail, "after answering %s the platform had cancelled, the effect record %s no longer holds the "+
				"cancellation: a task's key is created once, and a recorded cancellation or result is never overwritten", aTask(op), bucket)
			return
		}
	}
	note := ""
	if effectOp := op != contracts.OpLookup && op != contracts.OpListRecipients; effectOp && knownFound && c.decl.Supports(contracts.OpLookup) {
		after, ok, err := c.p.ask(ctx, c.p.newTask(contracts.OpLookup, ids))
		if err != nil || !ok {
			c.add(CheckCancellation, Fail, "no answer within %s to the lookup that checks the known subject's data after the "+
				"cancelled task (%v)", c.cfg.Timeout, err)
			return
		}
		if after.Result.Status != contracts.StatusFound || len(after.Result.Records) != c.knownRecords {
			c.add(CheckCancellation, Fail, "%s the platform had cancelled was answered cancelled, but carried out: a lookup for the "+
				"known subject now gets %s, before it found %d record(s). %s", aTask(op), describe(after.Result), c.knownRecords, howTo)
			return
		}
		note = fmt.Sprintf("; the known subject's %d record(s) are still there", c.knownRecords)
	}
	c.add(CheckCancellation, Pass, "%s the platform had cancelled before sending it was answered failed, cancelled, not retryable%s", aTask(op), note)
}
