package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/contracts"
)

// The effect record (contracts/PROTOCOL.md, "The effect record, claims and cancellation") holds, by
// task id, a finished task's result, an instance's claim on a task under way, or the platform's
// cancellation, which is a result like any other. It never holds records: statuses, counts and
// reasons only.

// DoneBucketConfig is the key-value bucket in which a register's adapters record the effects they
// applied, by task id: contracts.DoneBucket(registerID).
func DoneBucketConfig(registerID string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      contracts.DoneBucket(registerID),
		Description: "effects applied by register " + registerID + ", by task id",
		History:     1,
		TTL:         400 * 24 * time.Hour, // longer than any request can stay open
	}
}

// entry is one value of the effect record: a result, or a claim.
type entry struct {
	Status    contracts.ResultStatus `json:"status,omitempty"`
	Affected  int                    `json:"affected,omitempty"`
	Refusal   *contracts.Refusal     `json:"refusal,omitempty"`
	Error     *contracts.Error       `json:"error,omitempty"`
	ClaimedBy string                 `json:"claimed_by,omitempty"`
	ClaimedAt *time.Time             `json:"claimed_at,omitempty"`
}

// result is the finished task's result the entry holds, or nil. Anything but a recorded outcome is
// not one: NATS does not check reply subjects against permissions, so another client of the account
// can make a server reply land in the bucket.
func (e entry) result() *contracts.Result {
	switch e.Status {
	case contracts.StatusApplied, contracts.StatusNoData, contracts.StatusRefused:
	case contracts.StatusFailed:
		if e.Error == nil {
			return nil
		}
	case contracts.StatusFound:
		return nil // a lookup's records are never kept in the effect record
	default:
		return nil
	}
	return &contracts.Result{Status: e.Status, Affected: e.Affected, Refusal: e.Refusal, Error: e.Error}
}

func (e entry) cancelled() bool {
	return e.Status == contracts.StatusFailed && e.Error != nil && e.Error.Code == contracts.ErrCancelled
}

func decodeEntry(data []byte) entry {
	var e entry
	if json.Unmarshal(data, &e) != nil {
		return entry{}
	}
	return e
}

// withdrawalKey is where the platform asks, when the subject withdraws the request, that an effect
// already claimed stop if it still can: an effect that waits on someone else, such as a processor
// to which the adapter forwarded the task, may be cancelled there (Query.Withdrawn).
func withdrawalKey(taskID string) string { return doneKey(taskID) + ".withdrawn" }

// doneKey makes a task id a valid key: task ids are "<uuid>/<register id>[/<operation>]", which KV
// accepts as is.
func doneKey(taskID string) string { return taskID }

// read returns what the effect record holds on a task; a zero entry if nothing.
func (a *adapter) read(ctx context.Context, taskID string) (entry, error) {
	e, err := a.done.Get(ctx, doneKey(taskID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry{}, nil
	}
	if err != nil {
		return entry{}, fmt.Errorf("sdk: read the effect record: %w", err)
	}
	return decodeEntry(e.Value()), nil
}

// claim is an instance's hold on a task whose effect it applies.
type claim struct {
	a   *adapter
	key string
	mu  sync.Mutex
	rev uint64
}

func (a *adapter) claimValue() []byte {
	now := time.Now().UTC()
	data, _ := json.Marshal(entry{ClaimedBy: a.instance, ClaimedAt: &now})
	return data
}

// staleClaim is how old a claim may be before it is taken as a crashed instance's. A live instance
// rewrites its claim with every progress heartbeat, three times an ack wait.
func (a *adapter) staleClaim() time.Duration { return 5 * a.cfg.AckWait }

// take claims a task before its effect. It returns the claim; or the result already recorded (the
// task is finished, or was cancelled); or, when another delivery holds a live claim, how long until
// that claim goes stale, after which the task should come back.
func (a *adapter) take(ctx context.Context, taskID string) (c *claim, prior *contracts.Result, busy time.Duration, err error) {
	key := doneKey(taskID)
	// Two rounds are enough for any race: a key that appears between the read and the create is read
	// again, and one that changes between the read and a takeover is another instance's fresh claim.
	for range 3 {
		current, err := a.done.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			rev, err := a.done.Create(ctx, key, a.claimValue())
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			if err != nil {
				return nil, nil, 0, fmt.Errorf("sdk: claim the task: %w", err)
			}
			return &claim{a: a, key: key, rev: rev}, nil, 0, nil
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("sdk: read the effect record: %w", err)
		}
		e := decodeEntry(current.Value())
		if res := e.result(); res != nil {
			return nil, res, 0, nil
		}
		// The server's time of the claim, not the claimant's clock, says whether it is stale. A value
		// that is neither a result nor a claim is taken over like a stale claim.
		if left := a.staleClaim() - time.Since(current.Created()); e.ClaimedBy != "" && left > 0 {
			return nil, nil, left, nil
		}
		rev, err := a.done.Update(ctx, key, a.claimValue(), current.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("sdk: take over a stale claim: %w", err)
		}
		a.cfg.Logger.Warn("took over a stale claim: the instance that held it stopped", "register", a.decl.RegisterID, "task", taskID)
		return &claim{a: a, key: key, rev: rev}, nil, 0, nil
	}
	return nil, nil, time.Second, nil
}

// renew rewrites the claim, so that it stays fresh while the effect runs. A failure is logged only:
// another instance took the claim over, and the register's own task-id record keeps the effect from
// being applied twice; finish then fails, and the redelivery answers from the record.
func (c *claim) renew(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev, err := c.a.done.Update(ctx, c.key, c.a.claimValue(), c.rev)
	if err != nil {
		c.a.cfg.Logger.Warn("could not renew the claim on a task", "register", c.a.decl.RegisterID, "task", c.key, "error", err)
		return
	}
	c.rev = rev
}

// release gives the claim up when the effect failed in passing, so that the retry claims the task
// at once rather than waiting for this claim to go stale.
func (c *claim) release(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.a.done.Delete(ctx, c.key, jetstream.LastRevision(c.rev)); err != nil {
		c.a.cfg.Logger.Warn("could not release the claim on a task; its retry waits until the claim is stale",
			"register", c.a.decl.RegisterID, "task", c.key, "error", err)
	}
}

// finish replaces the claim with the task's result.
func (c *claim) finish(ctx context.Context, res *contracts.Result) error {
	data, err := json.Marshal(entry{Status: res.Status, Affected: res.Affected, Refusal: res.Refusal, Error: res.Error})
	if err != nil {
		return fmt.Errorf("sdk: record the result: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.a.done.Update(ctx, c.key, data, c.rev); err != nil {
		return fmt.Errorf("sdk: record the result: %w", err)
	}
	return nil
}

// errTaskCancelled is the cause of a task's context ending because the platform cancelled the task.
var errTaskCancelled = errors.New("the platform cancelled the task")

// watchCancellation ends the task's context, with cause errTaskCancelled, if the platform records a
// cancellation while a lookup runs. It listens on the key's subject, where the platform's write
// arrives at once, and reads the key again on every tick, in case a message was missed (a
// reconnect). A message alone proves nothing: a create refused because the key exists is seen there
// too, and anyone in the account may publish, so only what the record holds counts. A subscription
// rather than a KV watcher, because a watcher is a consumer, and a register may not create consumers
// on its record: a push consumer delivers the values it wrote to any subject it names.
func (a *adapter) watchCancellation(ctx context.Context, cancel context.CancelCauseFunc, taskID string, tick <-chan time.Time) {
	a.watchKey(ctx, doneKey(taskID), func(e entry) bool { return e.cancelled() }, func() { cancel(errTaskCancelled) }, tick)
}

// watchWithdrawal closes withdrawn once the platform asks an effect under way to stop (CancelTask).
func (a *adapter) watchWithdrawal(ctx context.Context, taskID string, withdrawn chan<- struct{}, tick <-chan time.Time) {
	a.watchKey(ctx, withdrawalKey(taskID), func(e entry) bool { return e.cancelled() }, func() { close(withdrawn) }, tick)
}

// watchKey calls hit once the effect record's key holds what matches says, watching as
// watchCancellation describes.
func (a *adapter) watchKey(ctx context.Context, key string, matches func(entry) bool, hit func(), tick <-chan time.Time) {
	notify := make(chan struct{}, 1)
	sub, err := a.nc.Subscribe("$KV."+contracts.DoneBucket(a.decl.RegisterID)+"."+key, func(*nats.Msg) {
		select {
		case notify <- struct{}{}:
		default:
		}
	})
	if err == nil {
		defer func() { _ = sub.Unsubscribe() }()
	}
	check := func() bool {
		e, err := a.read(ctx, key)
		if err == nil && matches(e) {
			hit()
			return true
		}
		return false
	}
	if check() { // a cancellation recorded between the first read and the subscription
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-notify:
		case <-tick:
		}
		if check() {
			return
		}
	}
}

// CancelTask records the platform's cancellation of a task in register registerID's effect record,
// for when the subject withdraws the request. It creates the task's key with a failed result, code
// cancelled, and reason as its message (shown to staff: say why, without personal data). cancelled
// is true if the task will not be carried out: the key was free, or held a cancellation already. It
// is false if an adapter had claimed or finished the task first; its result then comes as usual. If
// it had claimed it and not finished, the effect is asked to stop if it still can (Query.Withdrawn):
// its result, a cancellation or the effect's, comes as usual all the same.
// The caller needs the platform's permissions on the bucket.
func CancelTask(ctx context.Context, js jetstream.JetStream, registerID, taskID, reason string) (cancelled bool, err error) {
	kv, err := js.KeyValue(ctx, contracts.DoneBucket(registerID))
	if err != nil {
		return false, fmt.Errorf("sdk: cancel task: effect record of %s: %w", registerID, err)
	}
	if reason == "" {
		reason = "the platform cancelled the task"
	}
	data, err := json.Marshal(entry{Status: contracts.StatusFailed, Error: contracts.NewError(contracts.ErrCancelled, "%s", reason)})
	if err != nil {
		return false, fmt.Errorf("sdk: cancel task: %w", err)
	}
	_, err = kv.Create(ctx, doneKey(taskID), data)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("sdk: cancel task: %w", err)
	}
	current, err := kv.Get(ctx, doneKey(taskID))
	if err != nil {
		return false, fmt.Errorf("sdk: cancel task: %w", err)
	}
	e := decodeEntry(current.Value())
	if e.ClaimedBy != "" && e.result() == nil {
		// An instance is applying the effect: it is asked to stop if it still can, and answers
		// either way. A second withdrawal finds the request there already.
		if _, err := kv.Create(ctx, withdrawalKey(taskID), data); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return false, fmt.Errorf("sdk: cancel task: %w", err)
		}
	}
	return e.cancelled(), nil
}
