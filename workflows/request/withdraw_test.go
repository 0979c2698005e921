package request

import (
	"context"
	"slices"
	"testing"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/rules"
)

// withdrawCases is the case store as Withdraw uses it; other methods are not called.
type withdrawCases struct {
	Cases
	planned  []PlannedRegister
	recorded []WithdrawResult
}

func (c *withdrawCases) Planned(context.Context, string) ([]PlannedRegister, error) {
	return c.planned, nil
}
func (c *withdrawCases) Withdrawn(_ context.Context, _ WithdrawInput, res WithdrawResult) error {
	c.recorded = append(c.recorded, res)
	return nil
}

// effectRecord answers cancellations as a register's effect record would.
type effectRecord map[string]CancelState

func (r effectRecord) Cancel(_ context.Context, registerID, taskID string) (CancelState, error) {
	if taskID != contracts.TaskID(input().RequestID, registerID) {
		return "", nil
	}
	return r[registerID], nil
}

func TestWithdrawCancelsOnlyWhatNoRegisterBegan(t *testing.T) {
	plan := func(id string, dispatched bool, status contracts.ResultStatus) PlannedRegister {
		p := PlannedRegister{Outcome: rules.Outcome{RegisterID: id, Code: rules.CodeDispatch}, Dispatched: dispatched}
		if status != "" {
			p.Result = &contracts.Result{Status: status}
		}
		return p
	}
	cases := &withdrawCases{planned: []PlannedRegister{
		plan("applied-before", true, contracts.StatusApplied),
		plan("not-begun", true, ""),
		plan("under-way", true, ""),
		plan("never-dispatched", false, ""),
	}}
	a := &Activities{Cases: cases, Cancel: effectRecord{"not-begun": CancelDone, "under-way": CancelUnderWay}}
	res, err := a.Withdraw(context.Background(), WithdrawInput{RequestID: input().RequestID, Channel: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Cancelled, []string{"not-begun"}) || !slices.Equal(res.UnderWay, []string{"under-way"}) ||
		!slices.Equal(res.Answered, []string{"applied-before"}) {
		t.Errorf("withdrawal %+v", res)
	}
	if len(cases.recorded) != 1 {
		t.Errorf("the withdrawal was recorded %d times", len(cases.recorded))
	}
}
