package request

// Status is where a request stands in its life, as the office and the subject see it. It is the one
// list of a request's states: the workflow moves between them by the transition table below, the
// case store keeps them (a CHECK constraint lists them), the sites label each in every language and
// the public API's enum names them. TestStatusesAgreeEverywhere in the services checks all of those
// against Statuses.
type Status string

const (
	// StatusAwaitingIdentity: a request received by post or at a service point waits for a clerk to
	// confirm the subject's identity (Art 12(6)); nothing is planned or sent to a register until then.
	// The deadline runs from receipt all the same.
	StatusAwaitingIdentity Status = "awaiting_identity"
	// StatusReceived: the request is recorded and its rules are being evaluated.
	StatusReceived Status = "received"
	// StatusAwaitingInformation: some registers could find the subject's data with an identifier the
	// subject has not given (Art 11(2), 12(6)); the subject has been asked for it.
	StatusAwaitingInformation Status = "awaiting_information"
	// StatusDispatched: tasks went to the registers; their answers are awaited.
	StatusDispatched Status = "dispatched"
	// StatusInReview: the registers' outcomes are before the office.
	StatusInReview Status = "in_review"
	// StatusReplied: the reply went out. The request is closed.
	StatusReplied Status = "replied"
	// StatusRestricted: a restriction was replied to and holds: the data are only stored (Art 18(2)).
	StatusRestricted Status = "restricted"
	// StatusLiftNoticeSent: the subject was told that the restriction is about to be lifted (Art 18(3)).
	StatusLiftNoticeSent Status = "lift_notice_sent"
	// StatusLifted: the restriction was lifted. The request is closed.
	StatusLifted Status = "lifted"
	// StatusWithdrawn: the subject withdrew the request before the reply. The request is closed.
	StatusWithdrawn Status = "withdrawn"
	// StatusIdentityNotVerified: the subject's identity could not be established, and the subject was
	// told why (Art 12(2), 12(4)). The request is closed.
	StatusIdentityNotVerified Status = "identity_not_verified"
)

// Statuses lists every status in the order of a request's life.
var Statuses = []Status{StatusAwaitingIdentity, StatusReceived, StatusAwaitingInformation, StatusDispatched, StatusInReview,
	StatusReplied, StatusRestricted, StatusLiftNoticeSent, StatusLifted, StatusWithdrawn, StatusIdentityNotVerified}

// phase is what a status means for the rest of the platform.
type phase int

const (
	// unanswered: the office owes a reply and the deadline runs.
	unanswered phase = iota
	// following: replied, and a follow-up is still under way (a restriction until it is lifted).
	following
	// closed: nothing more will happen.
	closed
)

// transitions is the table of a request's life: each status's phase, whether the reply went out,
// whether someone outside the office is awaited, and the statuses it may become.
var transitions = map[Status]struct {
	phase    phase
	answered bool
	awaiting bool
	next     []Status
}{
	StatusAwaitingIdentity:    {phase: unanswered, awaiting: true, next: []Status{StatusReceived, StatusIdentityNotVerified}},
	StatusReceived:            {phase: unanswered, next: []Status{StatusAwaitingInformation, StatusDispatched, StatusInReview, StatusWithdrawn}},
	StatusAwaitingInformation: {phase: unanswered, awaiting: true, next: []Status{StatusDispatched, StatusInReview, StatusWithdrawn}},
	StatusDispatched:          {phase: unanswered, next: []Status{StatusAwaitingInformation, StatusInReview, StatusWithdrawn}},
	// A supply while in review sends the case back to collecting; an answer that comes late is
	// concluded in review without leaving it.
	StatusInReview:            {phase: unanswered, next: []Status{StatusDispatched, StatusReplied, StatusRestricted, StatusWithdrawn}},
	StatusReplied:             {phase: closed, answered: true},
	StatusRestricted:          {phase: following, answered: true, next: []Status{StatusLiftNoticeSent}},
	StatusLiftNoticeSent:      {phase: following, answered: true, next: []Status{StatusLifted}},
	StatusLifted:              {phase: closed, answered: true},
	StatusWithdrawn:           {phase: closed},
	StatusIdentityNotVerified: {phase: closed},
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { _, ok := transitions[s]; return ok }

// Open reports whether the office still owes the reply: the deadline runs, its alarms fire, and the
// deadline may be extended.
func (s Status) Open() bool { t, ok := transitions[s]; return ok && t.phase == unanswered }

// Closed reports whether the request's life is over: nothing more will happen to it.
func (s Status) Closed() bool { t, ok := transitions[s]; return ok && t.phase == closed }

// Answered reports whether the reply went out (a restriction's follow-up may still be under way).
func (s Status) Answered() bool { return transitions[s].answered }

// Awaiting reports whether the request waits for someone outside the office's work on it: a clerk's
// decision on the subject's identity, or an identifier from the subject.
func (s Status) Awaiting() bool { return transitions[s].awaiting }

// SubjectMayAct reports whether the subject may still add information to the request or withdraw
// it: it is open, and its subject's identity is established.
func (s Status) SubjectMayAct() bool { return s.Open() && s != StatusAwaitingIdentity }

// CanBecome reports whether the transition table allows a request in s to move to next.
func (s Status) CanBecome(next Status) bool {
	for _, n := range transitions[s].next {
		if n == next {
			return true
		}
	}
	return false
}

// OpenStatuses are the statuses in which the office still owes the reply, for queries.
func OpenStatuses() []Status { return statusesWhere(Status.Open) }

// SubjectMayActStatuses are the statuses in which the subject may still act on the request.
func SubjectMayActStatuses() []Status { return statusesWhere(Status.SubjectMayAct) }

func statusesWhere(keep func(Status) bool) []Status {
	var out []Status
	for _, s := range Statuses {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}
