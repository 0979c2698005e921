package conformance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"kirjaamo.dev/contracts"
)

// Check runs every check against the adapter of cfg.RegisterID and reports on each. The error is for
// a check that could not run at all: a bad configuration, or a NATS server out of reach.
//
// What each check proves, from outside the adapter:
//   - declaration: the adapter announced itself on its own subject with a declaration the catalogue
//     accepts, and announces every operation that declaration promises.
//   - unknown-subject: a person the register holds nothing on gets no_data, not an error or silence.
//   - known-subject: the known person's lookup is found, with records that validate.
//   - past-deadline: a task whose legal deadline has passed is answered like any other.
//   - invalid-task: a malformed task is answered failed, invalid_message, not retryable, naming the field.
//   - large-result: the known person's lookup with an inline limit of 1 byte comes as a package
//     sealed to the kit's own case key, in the register's package bucket, and arrives whole: size,
//     SHA-256, record count, each line a valid record, as many records as the ordinary lookup.
//   - cancellation: a task the platform cancelled in the effect record before sending it (an
//     erasure of the known person where the kit may change data) is answered failed, cancelled,
//     and not carried out: the person's data are still there.
//   - effect-once: the same effect task delivered again, while the first runs and after it was
//     acknowledged, gets the first answer back rather than a second effect.
//   - graceful-stop: when the kit runs the adapter, a stop leaves no task acknowledged but
//     unanswered, nor answered but unacknowledged.
//   - results-valid: every answer validates, echoes its task and carries Nats-Msg-Id result/<task id>.
//   - acknowledged: every answered task was acknowledged, so it is not redelivered.
//   - processing-events: every processing event the register published while the kit ran is a valid
//     event of the register, says only what its declaration declares, and carries its Nats-Msg-Id.
func Check(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	report := Report{RegisterID: cfg.RegisterID}
	if err := cfg.validate(); err != nil {
		return report, err
	}
	started := time.Now()
	p, err := connect(ctx, cfg)
	if err != nil {
		return report, err
	}
	defer p.close()
	r := &checker{cfg: cfg, p: p, report: &report}
	if cfg.Adapter != nil {
		r.adapter = startAdapter(ctx, cfg.Adapter)
		defer r.adapter.stop(cfg.Timeout)
	}
	r.run(ctx)
	report.Took = time.Since(started)
	return report, nil
}

type checker struct {
	cfg     Config
	p       *platform
	report  *Report
	adapter *runningAdapter
	decl    contracts.Declaration
	// lookups remembers the status each subject's ordinary lookup got, to compare a late task with;
	// knownRecords, how many records the known subject's had.
	lookups      map[string]contracts.ResultStatus
	knownRecords int
}

func (c *checker) add(name string, outcome Outcome, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.report.Checks = append(c.report.Checks, Finding{Name: name, Outcome: outcome, Message: msg})
	c.p.log.Info("conformance check", "check", name, "outcome", outcome)
}

func (c *checker) run(ctx context.Context) {
	c.lookups = map[string]contracts.ResultStatus{}
	if !c.checkDeclaration(ctx) {
		for _, name := range []string{CheckUnknownSubject, CheckKnownSubject, CheckPastDeadline, CheckInvalidTask,
			CheckLargeResult, CheckCancellation, CheckEffectOnce, CheckRefusal, CheckGracefulStop, CheckResultsValid, CheckAcknowledged, CheckProcessingEvents} {
			c.add(name, Skip, "needs an accepted announcement; fix the declaration check first")
		}
		return
	}
	c.checkUnknownSubject(ctx)
	c.checkKnownSubject(ctx)
	c.checkPastDeadline(ctx)
	c.checkInvalidTask(ctx)
	c.checkLargeResult(ctx)
	c.checkCancellation(ctx)
	// The effect runs after the lookups: it may erase what they look for.
	c.checkEffectOnce(ctx)
	c.checkRefusal(ctx)
	c.checkGracefulStop(ctx)
	c.checkResultsValid()
	c.checkAcknowledged(ctx)
	c.checkProcessingEvents(ctx)
}

func (c *checker) checkDeclaration(ctx context.Context) bool {
	subject := contracts.AnnounceSubject(c.cfg.RegisterID)
	var adapterDone <-chan struct{}
	if c.adapter != nil {
		adapterDone = c.adapter.done
	}
	c.p.log.Info("waiting for the adapter to announce itself", "subject", subject, "within", c.cfg.AnnounceTimeout)
	timer := time.NewTimer(c.cfg.AnnounceTimeout)
	defer timer.Stop()
	var a announcement
	select {
	case a = <-c.p.announcements:
	case <-adapterDone:
		c.add(CheckDeclaration, Fail, "the adapter stopped before it announced itself on %s: %v", subject, c.adapter.err)
		return false
	case <-timer.C:
		c.add(CheckDeclaration, Fail, "no announcement on %s within %s. An adapter announces its declaration once, when "+
			"it starts, as a request on that subject: start (or restart) the adapter after the check has started", subject, c.cfg.AnnounceTimeout)
		return false
	case <-ctx.Done():
		c.add(CheckDeclaration, Fail, "stopped before an announcement came: %v", ctx.Err())
		return false
	}
	if a.problem != nil {
		c.add(CheckDeclaration, Fail, "the platform refuses the announcement made on %s: %s. `kirjaamo register validate FILE` "+
			"checks a declaration without the adapter", a.subject, a.problem.Message)
		return false
	}
	c.decl = a.body.Declaration
	var missing []string
	for _, op := range c.decl.Operations {
		if !slices.Contains(a.body.Capabilities, op) {
			missing = append(missing, string(op))
		}
	}
	if len(missing) > 0 {
		c.add(CheckDeclaration, Fail, "the declaration promises %s, which the adapter does not announce among its capabilities "+
			"(%s): the platform sends what the declaration promises, so implement it or take it out of the declaration",
			strings.Join(missing, ", "), joinOps(a.body.Capabilities))
		return true // the promise is the problem; the tasks the adapter does implement can still be checked
	}
	c.add(CheckDeclaration, Pass, "%s version %s announced on its own subject by instance %q is valid; operations: %s; identifiers: %s",
		c.decl.RegisterID, c.decl.Version, a.body.Instance, joinOps(c.decl.Operations), joinTypes(c.decl.IdentifierTypes()))
	return true
}

// identifiers are the subject's identifiers that the register declares it matches: the only ones the
// platform would send it.
func (c *checker) identifiers(s Subject) []contracts.Identifier {
	types := c.decl.IdentifierTypes()
	var out []contracts.Identifier
	for _, id := range s.Identifiers {
		if slices.Contains(types, id.Type) {
			out = append(out, id)
		}
	}
	return out
}

// unknownSubject is cfg.Unknown or, if none was given, a made-up person with one identifier of each
// type the register declares.
func (c *checker) unknownSubject() ([]contracts.Identifier, string) {
	if len(c.cfg.Unknown.Identifiers) > 0 {
		ids := c.identifiers(c.cfg.Unknown)
		if len(ids) == 0 {
			return nil, fmt.Sprintf("none of the unknown subject's identifiers is of a type the register declares (%s)",
				joinTypes(c.decl.IdentifierTypes()))
		}
		return ids, ""
	}
	var ids []contracts.Identifier
	for _, t := range c.decl.IdentifierTypes() {
		ids = append(ids, contracts.Identifier{Type: t, Value: madeUp(t)})
	}
	if len(ids) == 0 {
		return nil, "the register declares no identifier to find a person by"
	}
	return ids, ""
}

func (c *checker) knownSubject() ([]contracts.Identifier, string) {
	if len(c.cfg.Known.Identifiers) == 0 {
		return nil, "no known subject was given (Config.Known, --known TYPE=VALUE): the kit cannot check that a lookup finds data"
	}
	ids := c.identifiers(c.cfg.Known)
	if len(ids) == 0 {
		return nil, fmt.Sprintf("none of the known subject's identifiers is of a type the register declares (%s)",
			joinTypes(c.decl.IdentifierTypes()))
	}
	return ids, ""
}

func (c *checker) checkUnknownSubject(ctx context.Context) {
	if !c.decl.Supports(contracts.OpLookup) {
		c.add(CheckUnknownSubject, Skip, "the register declares no lookup, so the platform sends it none")
		return
	}
	ids, problem := c.unknownSubject()
	if ids == nil {
		c.add(CheckUnknownSubject, Fail, "%s", problem)
		return
	}
	res, ok, err := c.p.ask(ctx, c.p.newTask(contracts.OpLookup, ids))
	switch {
	case err != nil:
		c.add(CheckUnknownSubject, Fail, "%v", err)
	case !ok:
		c.add(CheckUnknownSubject, Fail, "no answer within %s to a lookup for a person the register holds nothing on. Not finding "+
			"a person is an answer: send status no_data at once. An adapter that naks the task instead (the Go SDK does for an "+
			"error it cannot classify) has it redelivered until the deadline, and the subject never hears \"no data held\"", c.cfg.Timeout)
	default:
		c.lookups[CheckUnknownSubject] = res.Result.Status
		switch res.Result.Status {
		case contracts.StatusNoData:
			c.add(CheckUnknownSubject, Pass, "a person the register holds nothing on was answered no_data")
		case contracts.StatusFailed:
			c.add(CheckUnknownSubject, Fail, "a lookup for a person the register holds nothing on was answered failed (%s). Not finding "+
				"a person is not an error: answer status no_data, which the subject is owed like any other answer (Art 15)", describeError(res.Result.Error))
		case contracts.StatusFound:
			c.add(CheckUnknownSubject, Fail, "a lookup for a person the register holds nothing on found %d record(s): match on the "+
				"identifiers exactly, in the normalized form of contracts.Normalize, and return only that person's records", len(res.Result.Records))
		case contracts.StatusApplied, contracts.StatusRefused:
			c.add(CheckUnknownSubject, Fail, "a lookup for a person the register holds nothing on was answered %q; want no_data", res.Result.Status)
		default:
			c.add(CheckUnknownSubject, Fail, "a lookup for a person the register holds nothing on was answered %q; want no_data", res.Result.Status)
		}
	}
}

func (c *checker) checkKnownSubject(ctx context.Context) {
	if !c.decl.Supports(contracts.OpLookup) {
		c.add(CheckKnownSubject, Skip, "the register declares no lookup, so the platform sends it none")
		return
	}
	ids, problem := c.knownSubject()
	if ids == nil {
		outcome := Fail
		if len(c.cfg.Known.Identifiers) == 0 {
			outcome = Skip
		}
		c.add(CheckKnownSubject, outcome, "%s", problem)
		return
	}
	res, ok, err := c.p.ask(ctx, c.p.newTask(contracts.OpLookup, ids))
	switch {
	case err != nil:
		c.add(CheckKnownSubject, Fail, "%v", err)
		return
	case !ok:
		c.add(CheckKnownSubject, Fail, "no answer within %s to a lookup for the known subject: answer each task, or if the "+
			"register's store is down, nak it so that it is redelivered", c.cfg.Timeout)
		return
	}
	c.lookups[CheckKnownSubject] = res.Result.Status
	c.knownRecords = len(res.Result.Records)
	switch r := res.Result; {
	case r.Status == contracts.StatusNoData:
		c.add(CheckKnownSubject, Fail, "a lookup for the known subject was answered no_data. Match the identifiers as the platform "+
			"sends them, normalized (e-mail lower case, phone in E.164, identity code upper case; a register that stores hashes "+
			"hashes the normalized value), and check that the known subject is in the register")
	case r.Status != contracts.StatusFound:
		c.add(CheckKnownSubject, Fail, "a lookup for the known subject was answered %s; want found, with the records held", describe(r))
	case len(r.Records) == 0:
		c.add(CheckKnownSubject, Fail, "a lookup for the known subject was answered found but carries no records: send the records, "+
			"each with a category and its fields")
	default:
		for i := range r.Records {
			if err := contracts.Validate(&r.Records[i]); err != nil {
				c.add(CheckKnownSubject, Fail, "record %d of the known subject does not validate: %v", i, err)
				return
			}
		}
		if problem := undeclared(c.decl, r.Records); problem != "" {
			c.add(CheckKnownSubject, Fail, "%s", problem)
			return
		}
		var categories []string
		for _, rec := range r.Records {
			if !slices.Contains(categories, rec.Category) {
				categories = append(categories, rec.Category)
			}
		}
		c.add(CheckKnownSubject, Pass, "the known subject was found: %d record(s) in %s", len(r.Records), strings.Join(categories, ", "))
	}
}

// checkPastDeadline sends a lookup whose legal deadline has passed. The deadline is the platform's to
// keep: past it the request is late, not void, and the subject is owed the answer all the same.
func (c *checker) checkPastDeadline(ctx context.Context) {
	if !c.decl.Supports(contracts.OpLookup) {
		c.add(CheckPastDeadline, Skip, "the register declares no lookup, so the platform sends it none")
		return
	}
	// The same person as an earlier lookup, so that only the deadline differs.
	ids, _ := c.knownSubject()
	baseline, seen := c.lookups[CheckKnownSubject]
	if ids == nil || !seen {
		ids, _ = c.unknownSubject()
		baseline, seen = c.lookups[CheckUnknownSubject]
	}
	if ids == nil || !seen {
		c.add(CheckPastDeadline, Skip, "no ordinary lookup was answered to compare with")
		return
	}
	task := c.p.newTask(contracts.OpLookup, ids)
	task.ReceivedAt = time.Now().UTC().AddDate(0, -3, 0)
	task.Deadline = time.Now().UTC().AddDate(0, 0, -1)
	res, ok, err := c.p.ask(ctx, task)
	switch {
	case err != nil:
		c.add(CheckPastDeadline, Fail, "%v", err)
	case !ok:
		c.add(CheckPastDeadline, Fail, "no answer within %s to a task whose deadline has passed. Answer it like any other: the "+
			"deadline is the platform's to keep, and a late answer is still owed to the subject (Art 12(3))", c.cfg.Timeout)
	case res.Result.Status != baseline:
		c.add(CheckPastDeadline, Fail, "a lookup whose deadline has passed was answered %s, the same lookup with a deadline ahead "+
			"%s. Do not treat a passed deadline as a cancellation: the answer is still owed (Art 12(3))", describe(res.Result), baseline)
	default:
		c.add(CheckPastDeadline, Pass, "a task whose deadline has passed was answered %s, like the same task in time", baseline)
	}
}

// checkInvalidTask sends a task whose identifier is malformed, as no platform would: an adapter must
// not trust its input, and must say precisely what is wrong.
func (c *checker) checkInvalidTask(ctx context.Context) {
	op := contracts.OpLookup
	if !c.decl.Supports(op) {
		for _, declared := range c.decl.Operations {
			if declared != contracts.OpRectify {
				op = declared
				break
			}
		}
	}
	idType := contracts.IdentifierPersonalIdentityCode
	if types := c.decl.IdentifierTypes(); len(types) > 0 {
		idType = types[0]
	}
	task := c.p.newTask(op, []contracts.Identifier{{Type: idType, Value: malformed(idType)}})
	const field = "identifiers[0].value"
	res, ok, err := c.p.ask(ctx, task)
	switch {
	case err != nil:
		c.add(CheckInvalidTask, Fail, "%v", err)
		return
	case !ok:
		c.add(CheckInvalidTask, Fail, "no answer within %s to %s whose %s is a malformed %s. A task that fails validation "+
			"is answered failed with code invalid_message, not retryable, naming the field: dropped, it leaves the request "+
			"waiting until its deadline", c.cfg.Timeout, aTask(op), field, idType)
		return
	}
	r := res.Result
	var wrong []string
	if r.Status != contracts.StatusFailed {
		wrong = append(wrong, fmt.Sprintf("status is %q, want failed", r.Status))
	}
	if r.Error == nil {
		wrong = append(wrong, "it carries no error")
	} else {
		if r.Error.Code != contracts.ErrInvalidMessage {
			wrong = append(wrong, fmt.Sprintf("error code is %q, want invalid_message", r.Error.Code))
		}
		if r.Error.Retryable {
			wrong = append(wrong, "it is marked retryable, but the same message cannot succeed on a retry")
		}
		named := strings.Contains(r.Error.Message, field) ||
			slices.ContainsFunc(r.Error.Fields, func(f contracts.FieldError) bool { return f.Field == field })
		if !named {
			wrong = append(wrong, fmt.Sprintf("the error does not name the field %s (in error.fields or its message)", field))
		}
	}
	if len(wrong) > 0 {
		c.add(CheckInvalidTask, Fail, "a task whose %s is a malformed %s was answered %s: %s", field, idType, describe(r), strings.Join(wrong, "; "))
		return
	}
	c.add(CheckInvalidTask, Pass, "a task whose %s is a malformed %s was answered failed, invalid_message, not retryable, naming the field", field, idType)
}

// effectOps are the operations the effect check may use, best first: a repeated erasure is the most
// visible from outside, because a second erasure finds nothing left and answers differently.
// Rectification is left out: the kit does not know which field the register lets it correct.
var effectOps = []contracts.Operation{contracts.OpErase, contracts.OpRestrict, contracts.OpObject, contracts.OpLiftRestriction}

// checkEffectOnce delivers one effect task three times: twice at once, as when the ack wait runs out
// while the first delivery still works and another instance takes the task, then once more after the
// adapter acknowledged it, as after a crash between the answer and the ack. The second delivery is
// published without Nats-Msg-Id, or the stream would drop it; the adapter's repeated answers carry the
// first one's message id, so the stream keeps one answer, but the kit's plain subscription sees every
// one. Each must equal the first: a second, different answer (a new count, or no_data because the data
// are gone) shows the effect was applied again.
//
// What the kit cannot see: a register that silently repeats an idempotent effect (restricting rows
// already restricted) and reports the same count passes. Only the register's own test can look in its
// store for the task id recorded with the effect.
func (c *checker) checkEffectOnce(ctx context.Context) {
	if c.cfg.ReadOnly {
		c.add(CheckEffectOnce, Skip, "read-only: the check that changes the known subject's data was not run")
		return
	}
	i := slices.IndexFunc(effectOps, c.decl.Supports)
	if i < 0 {
		c.add(CheckEffectOnce, Skip, "the register declares no effect the kit can send (erase, restrict, object or lift_restriction)")
		return
	}
	op := effectOps[i]
	ids, problem := c.knownSubject()
	if ids == nil {
		outcome := Fail
		if len(c.cfg.Known.Identifiers) == 0 {
			outcome = Skip
		}
		c.add(CheckEffectOnce, outcome, "%s", problem)
		return
	}
	task := c.p.newTask(op, ids)
	first, err := c.p.publish(ctx, task, task.TaskID)
	var again uint64
	if err == nil {
		again, err = c.p.publish(ctx, task, "")
	}
	if err != nil {
		c.add(CheckEffectOnce, Fail, "%v", err)
		return
	}
	answers, ok := c.p.results.wait(ctx, task.TaskID, 2, c.cfg.Timeout)
	if len(answers) == 0 {
		c.add(CheckEffectOnce, Fail, "no answer within %s to %s for the known subject", c.cfg.Timeout, aTask(op))
		return
	}
	c.p.noteAnswered(first, task.TaskID)
	a := answers[0].Result
	if a.Status == contracts.StatusFailed {
		c.add(CheckEffectOnce, Fail, "the register declares %s, but %s for the known subject was answered %s", op, aTask(op), describe(a))
		return
	}
	if !ok {
		c.add(CheckEffectOnce, Fail, "%s delivered a second time while the first delivery was under way got no answer within %s: "+
			"a task seen again is answered again, with its first result (PROTOCOL.md, step 4)", aTask(op), c.cfg.Timeout)
		return
	}
	c.p.noteAnswered(again, task.TaskID)
	if b := answers[1].Result; !sameAnswer(a, b) {
		c.add(CheckEffectOnce, Fail, "%s delivered twice at once was answered %s, then %s: the effect was applied again. "+
			"Record the task id in the same transaction as the effect, and answer a task seen before with its first result "+
			"(PROTOCOL.md, step 4); claim the task in the effect record before the effect, so that a delivery running alongside "+
			"waits for the first (PROTOCOL.md, \"The effect record, claims and cancellation\"; the Go SDK does this)",
			aTask(op), describe(a), describe(b))
		return
	}
	open, err := c.p.waitAcknowledged(ctx, []uint64{first, again}, c.cfg.Timeout)
	if err != nil || len(open) > 0 {
		c.add(CheckEffectOnce, Fail, "both deliveries of %s were answered, but %d were not acknowledged within %s (%v): "+
			"acknowledge a task once its result is stored", aTask(op), len(open), c.cfg.Timeout, err)
		return
	}
	last, err := c.p.publish(ctx, task, "")
	if err != nil {
		c.add(CheckEffectOnce, Fail, "%v", err)
		return
	}
	answers, ok = c.p.results.wait(ctx, task.TaskID, 3, c.cfg.Timeout)
	if !ok {
		c.add(CheckEffectOnce, Fail, "%s delivered again after it was acknowledged got no answer within %s: a task seen "+
			"again is answered again, with its first result (PROTOCOL.md, step 4)", aTask(op), c.cfg.Timeout)
		return
	}
	c.p.noteAnswered(last, task.TaskID)
	if b := answers[2].Result; !sameAnswer(a, b) {
		c.add(CheckEffectOnce, Fail, "%s was answered %s, and %s when delivered again after its acknowledgement: the effect "+
			"was applied again. Record the task id with the effect and answer a task seen before with its first result "+
			"(PROTOCOL.md, step 4)", aTask(op), describe(a), describe(b))
		return
	}
	note := ""
	if a.Status == contracts.StatusNoData || a.Status == contracts.StatusRefused {
		note = "; the known subject had nothing this effect changes, so the check shows little: give a subject with data"
	}
	c.add(CheckEffectOnce, Pass, "%s was answered %s to the first delivery, to a second one alongside it and to a third after the "+
		"acknowledgement: one effect reported%s", op, describe(a), note)
}

// checkGracefulStop stops the adapter (SIGTERM, or its context ending in the Go SDK) while tasks
// are under way. A stop must lose nothing: every task either answered and acknowledged, or left
// unacknowledged in the stream for another instance to take.
func (c *checker) checkGracefulStop(ctx context.Context) {
	if c.adapter == nil {
		c.add(CheckGracefulStop, Skip, "the kit can stop only an adapter it runs itself (Config.Adapter, in a Go test)")
		return
	}
	var tasks []contracts.Task
	if ids, _ := c.unknownSubject(); ids != nil && c.decl.Supports(contracts.OpLookup) {
		for range 4 {
			tasks = append(tasks, c.p.newTask(contracts.OpLookup, ids))
		}
	} else { // no lookup to send: malformed tasks are answered all the same
		for range 4 {
			tasks = append(tasks, c.p.newTask(contracts.OpLookup, []contracts.Identifier{
				{Type: contracts.IdentifierPersonalIdentityCode, Value: malformed(contracts.IdentifierPersonalIdentityCode)}}))
		}
	}
	// The adapter is told to stop just after the first task is sent, so that the stop meets tasks under
	// way, tasks not yet taken, or both.
	type stopped struct {
		ok   bool
		err  error
		took time.Duration
	}
	stopping := make(chan stopped, 1)
	seqs := make([]uint64, len(tasks))
	for i, task := range tasks {
		seq, err := c.p.publish(ctx, task, task.TaskID)
		if err != nil {
			c.add(CheckGracefulStop, Fail, "%v", err)
			return
		}
		seqs[i] = seq
		if i == 0 {
			go func() {
				started := time.Now()
				ok, err := c.adapter.stop(c.cfg.Timeout)
				stopping <- stopped{ok, err, time.Since(started).Round(time.Millisecond)}
			}()
		}
	}
	stop := <-stopping
	if !stop.ok {
		c.add(CheckGracefulStop, Fail, "the adapter did not return within %s of being told to stop: stop taking tasks, finish "+
			"those under way and return", c.cfg.Timeout)
		return
	}
	if stop.err != nil && !errors.Is(stop.err, context.Canceled) {
		c.add(CheckGracefulStop, Fail, "the adapter returned an error when told to stop: %v", stop.err)
		return
	}
	// The answers were published before the adapter returned; give the kit's subscription a moment to
	// take in any still on the wire.
	_ = c.p.nc.FlushTimeout(time.Second)
	var answered, lost, unacked int
	for settle := time.Now().Add(time.Second); ; {
		answered, lost, unacked = 0, 0, 0
		for i, task := range tasks {
			done, err := c.p.acknowledged(ctx, seqs[i])
			if err != nil {
				c.add(CheckGracefulStop, Fail, "%v", err)
				return
			}
			got := len(c.p.results.forTask(task.TaskID)) > 0
			switch {
			case got && done:
				answered++
				c.p.noteAnswered(seqs[i], task.TaskID)
			case got:
				unacked++
			case done:
				lost++
			}
		}
		if (lost == 0 && unacked == 0) || time.Now().After(settle) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case lost > 0:
		c.add(CheckGracefulStop, Fail, "%d of %d tasks were acknowledged but never answered when the adapter stopped: those requests "+
			"would never be answered. Acknowledge a task only after its result is stored; on a stop, finish the tasks under way "+
			"or leave them unacknowledged for another instance", lost, len(tasks))
	case unacked > 0:
		c.add(CheckGracefulStop, Fail, "%d of %d tasks were answered but left unacknowledged when the adapter stopped: on a stop, "+
			"finish each task under way, its acknowledgement included, before exiting, or it is redelivered and answered twice",
			unacked, len(tasks))
	default:
		c.add(CheckGracefulStop, Pass, "the adapter stopped within %s: %d task(s) under way were answered and acknowledged, %d left "+
			"in the stream for another instance, none lost", stop.took, answered, len(tasks)-answered)
	}
}

func (c *checker) checkResultsValid() {
	var problems []string
	seen, tasks := 0, map[string]bool{}
	note := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !slices.Contains(problems, msg) {
			problems = append(problems, msg)
		}
	}
	for _, o := range c.p.results.snapshot() {
		task, ours := c.p.sentTask(o.TaskID)
		if !ours {
			if o.DecodeErr != nil {
				note("a message on %s is not a result: %v", contracts.ResultSubject(c.cfg.RegisterID), o.DecodeErr)
			}
			continue // an answer to a task of an earlier run, or of the platform's
		}
		seen++
		tasks[o.TaskID] = true
		if o.DecodeErr != nil {
			note("the answer to %s does not decode as a result: %v", aTask(task.Operation), o.DecodeErr)
			continue
		}
		r := o.Result
		if err := r.Validate(); err != nil {
			note("the answer to %s does not validate: %v", aTask(task.Operation), err)
		}
		if problem := untranslated(r.Refusal); problem != "" {
			note("the answer to %s: %s", aTask(task.Operation), problem)
		}
		if r.RequestID != task.RequestID || r.RegisterID != task.RegisterID || r.Operation != task.Operation {
			note("the answer to %s does not echo its task: request_id, register_id and operation are copied from the task", aTask(task.Operation))
		}
		if want := "result/" + task.TaskID; o.MsgID != want {
			note("the answer to %s carries Nats-Msg-Id %q; want \"result/<task id>\", so that the stream keeps one answer "+
				"when a redelivered task is answered again", aTask(task.Operation), o.MsgID)
		}
	}
	switch {
	case len(problems) > 0:
		c.add(CheckResultsValid, Fail, "%s", strings.Join(problems, "; "))
	case seen == 0:
		c.add(CheckResultsValid, Skip, "no answers to judge")
	default:
		c.add(CheckResultsValid, Pass, "%d answer(s) to %d task(s) validate, echo their task and carry Nats-Msg-Id result/<task id>", seen, len(tasks))
	}
}

func (c *checker) checkAcknowledged(ctx context.Context) {
	c.p.mu.Lock()
	seqs := make([]uint64, 0, len(c.p.answered))
	for seq := range c.p.answered {
		seqs = append(seqs, seq)
	}
	c.p.mu.Unlock()
	if len(seqs) == 0 {
		c.add(CheckAcknowledged, Skip, "no answered tasks to judge")
		return
	}
	open, err := c.p.waitAcknowledged(ctx, seqs, c.cfg.Timeout)
	switch {
	case err != nil:
		c.add(CheckAcknowledged, Fail, "%v", err)
	case len(open) > 0:
		c.add(CheckAcknowledged, Fail, "%d of %d answered task(s) were not acknowledged within %s: acknowledge a task once the stream "+
			"has stored its result (PROTOCOL.md, step 3); unacknowledged, it is redelivered after the ack wait and answered again",
			len(open), len(seqs), c.cfg.Timeout)
	default:
		c.add(CheckAcknowledged, Pass, "every answered task (%d) was acknowledged", len(seqs))
	}
}

// runningAdapter is an adapter the kit runs in-process.
type runningAdapter struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func startAdapter(ctx context.Context, run func(context.Context) error) *runningAdapter {
	actx, cancel := context.WithCancel(ctx)
	a := &runningAdapter{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.err = run(actx)
	}()
	return a
}

// stop ends the adapter's context and waits for it to return.
func (a *runningAdapter) stop(within time.Duration) (stopped bool, err error) {
	a.cancel()
	select {
	case <-a.done:
		return true, a.err
	case <-time.After(within):
		return false, nil
	}
}

// aTask names a task by its operation: "a lookup task", "an erase task".
func aTask(op contracts.Operation) string {
	if strings.ContainsRune("aeiou", rune(op[0])) {
		return "an " + string(op) + " task"
	}
	return "a " + string(op) + " task"
}

func sameAnswer(a, b contracts.Result) bool {
	if a.Status != b.Status || a.Affected != b.Affected {
		return false
	}
	if (a.Error == nil) != (b.Error == nil) || a.Error != nil && a.Error.Code != b.Error.Code {
		return false
	}
	return (a.Refusal == nil) == (b.Refusal == nil)
}

// describe says what a result answered, without its records: they are personal data.
func describe(r contracts.Result) string {
	switch r.Status {
	case contracts.StatusApplied:
		return fmt.Sprintf("applied (affected %d)", r.Affected)
	case contracts.StatusFailed:
		return "failed (" + describeError(r.Error) + ")"
	case contracts.StatusRefused:
		if r.Refusal != nil {
			return "refused (" + r.Refusal.Citation + ")"
		}
		return "refused"
	case contracts.StatusFound:
		return fmt.Sprintf("found (%d records)", len(r.Records))
	case contracts.StatusNoData:
	}
	if r.Affected != 0 {
		return fmt.Sprintf("%s (affected %d)", r.Status, r.Affected)
	}
	return fmt.Sprintf("%q", r.Status)
}

func describeError(e *contracts.Error) string {
	if e == nil {
		return "no error given"
	}
	return fmt.Sprintf("%s, retryable %t: %s", e.Code, e.Retryable, e.Message)
}

func joinOps(ops []contracts.Operation) string {
	if len(ops) == 0 {
		return "none"
	}
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = string(op)
	}
	return strings.Join(s, ", ")
}

func joinTypes(types []contracts.IdentifierType) string {
	if len(types) == 0 {
		return "none"
	}
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// madeUp returns an identifier of a type that no real person has.
func madeUp(t contracts.IdentifierType) string {
	switch t {
	case contracts.IdentifierEmail:
		return "nobody-" + newUUID()[:8] + "@example.invalid"
	case contracts.IdentifierPhone:
		// +999 is not assigned to any country.
		return fmt.Sprintf("+999%09d", randomBelow(1_000_000_000))
	case contracts.IdentifierPersonalIdentityCode:
		// Individual numbers 900-999 are the test range: no person is given one.
		first10 := fmt.Sprintf("%02d%02d%02dA%03d", 1+randomBelow(28), 1+randomBelow(12), randomBelow(25), 900+randomBelow(100))
		return first10 + string(contracts.PersonalIdentityCodeCheck(first10))
	}
	panic("conformance: no made-up value for identifier type " + string(t))
}

// malformed returns a value of the identifier type that fails its validation.
func malformed(t contracts.IdentifierType) string {
	switch t {
	case contracts.IdentifierEmail:
		return "not-an-e-mail-address"
	case contracts.IdentifierPhone:
		return "040 123" // not E.164
	case contracts.IdentifierPersonalIdentityCode:
		valid := madeUp(contracts.IdentifierPersonalIdentityCode)
		wrong := byte('0')
		if valid[10] == wrong {
			wrong = '1'
		}
		return valid[:10] + string(wrong) // the right date and number with the wrong check character
	}
	panic("conformance: no malformed value for identifier type " + string(t))
}

func randomBelow(n int64) int {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}

// undeclared names the first category or field of records that the declaration's records do not
// describe, or "" if it describes them all: the subject reads each field by its declared label, in
// their language.
func undeclared(d contracts.Declaration, records []contracts.Record) string {
	for _, rec := range records {
		t, ok := d.RecordType(rec.Category)
		if !ok {
			return fmt.Sprintf("the records' category %q is not in the declaration's records: declare each category the register "+
				"returns, with its name and each field's label in Finnish, Swedish and English, so that the subject reads them in their language", rec.Category)
		}
		names := make([]string, 0, len(rec.Fields))
		for name := range rec.Fields {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if _, ok := t.Field(name); !ok {
				return fmt.Sprintf("the field %q of the category %q is not in the declaration's records: declare it, with its label "+
					"in every language and its format", name, rec.Category)
			}
		}
	}
	return ""
}

// untranslated says what is wrong with a refusal's reason as the subject would read it, or "": it
// must be given in Finnish, Swedish and English, and a text that reads the same in two languages has
// not been translated.
func untranslated(r *contracts.Refusal) string {
	if r == nil {
		return ""
	}
	t := r.Reason
	if t.FI == "" || t.SV == "" || t.EN == "" {
		return "the refusal's reason must be given in Finnish, Swedish and English (reason.fi, reason.sv, reason.en)"
	}
	if t.FI == t.SV || t.FI == t.EN || t.SV == t.EN {
		return "the refusal's reason reads the same in two languages: the subject reads it in their own, so translate it"
	}
	return ""
}

// noSuchField is a field no register has: a correction of it must be refused.
const noSuchField = "kirjaamo_conformance_no_such_field"

// checkRefusal sends the known subject a rectify task for a field the register does not declare
// correctable, which it must refuse on its own ground: a code, the reason in Finnish, Swedish and
// English, and the provisions it rests on, which the platform writes out in the subject's language.
func (c *checker) checkRefusal(ctx context.Context) {
	switch {
	case !c.decl.Supports(contracts.OpRectify):
		c.add(CheckRefusal, Skip, "the register declares no rectify, the task the kit asks a refusal of")
		return
	case c.cfg.ReadOnly:
		c.add(CheckRefusal, Skip, "read-only: the kit sends no rectify task")
		return
	}
	ids, problem := c.knownSubject()
	if ids == nil {
		outcome := Fail
		if len(c.cfg.Known.Identifiers) == 0 {
			outcome = Skip
		}
		c.add(CheckRefusal, outcome, "%s", problem)
		return
	}
	task := c.p.newTask(contracts.OpRectify, ids)
	task.Rectification = []contracts.Correction{{Field: noSuchField, NewValue: "x"}}
	res, ok, err := c.p.ask(ctx, task)
	switch {
	case err != nil:
		c.add(CheckRefusal, Fail, "%v", err)
		return
	case !ok:
		c.add(CheckRefusal, Fail, "no answer within %s to a rectify task for a field the register does not have", c.cfg.Timeout)
		return
	}
	r := res.Result
	if r.Status != contracts.StatusRefused || r.Refusal == nil {
		c.add(CheckRefusal, Fail, "a correction of %q, a field the register does not declare correctable, was answered %s; want "+
			"refused, with a code, the reason in Finnish, Swedish and English and the provisions (sdk.Refuse)", noSuchField, describe(r))
		return
	}
	if err := contracts.Validate(r.Refusal); err != nil {
		c.add(CheckRefusal, Fail, "the refusal does not validate: %v", err)
		return
	}
	if problem := untranslated(r.Refusal); problem != "" {
		c.add(CheckRefusal, Fail, "%s", problem)
		return
	}
	c.add(CheckRefusal, Pass, "a correction of a field the register does not have was refused as %s, citing %s, with its reason in fi, sv and en",
		r.Refusal.Code, r.Refusal.Citation)
}
