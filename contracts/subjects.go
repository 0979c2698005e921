package contracts

import "strings"

// The NATS subjects of the register protocol. Every subject of a register sits under
// kirjaamo.v1.register.<register id>, so that one permission, "kirjaamo.v1.register.<id>.>", draws
// the line around what a register's adapter may see.
const (
	subjectRoot = "kirjaamo.v1.register"

	// TasksStream is the JetStream stream that holds the tasks sent to registers.
	TasksStream = "KIRJAAMO_TASKS"
	// ResultsStream is the JetStream stream that holds the registers' results.
	ResultsStream = "KIRJAAMO_RESULTS"

	// AllTasksSubject and AllResultsSubject are the streams' subject filters.
	AllTasksSubject   = subjectRoot + ".*.task"
	AllResultsSubject = subjectRoot + ".*.result"
	// AllAnnouncementsSubject and AllHeartbeatsSubject are what the register catalogue listens on.
	AllAnnouncementsSubject = subjectRoot + ".*.announce"
	AllHeartbeatsSubject    = subjectRoot + ".*.heartbeat"
	// AllEventsSubject is where the catalogue takes the events adapters report for the record.
	AllEventsSubject = subjectRoot + ".*.event"

	// ResultsConsumer is the durable consumer through which the orchestrator collects results.
	ResultsConsumer = "orchestrator-results"

	// ProcessingStream is the JetStream stream that holds the registers' processing events until the
	// platform has stored them; AllProcessingSubject is its subject filter.
	ProcessingStream     = "KIRJAAMO_PROCESSING"
	AllProcessingSubject = subjectRoot + ".*.processing"
)

// ProcessingSubject is where a register publishes its processing events.
func ProcessingSubject(registerID string) string {
	return subjectRoot + "." + registerID + ".processing"
}

// TaskSubject is where the platform publishes tasks for a register.
func TaskSubject(registerID string) string { return subjectRoot + "." + registerID + ".task" }

// ResultSubject is where a register's adapter publishes its results.
func ResultSubject(registerID string) string { return subjectRoot + "." + registerID + ".result" }

// AnnounceSubject is where a register's adapter sends its declaration, as a request that the
// catalogue answers with an AnnounceReply.
func AnnounceSubject(registerID string) string { return subjectRoot + "." + registerID + ".announce" }

// HeartbeatSubject is where a register's adapter says it is alive.
func HeartbeatSubject(registerID string) string {
	return subjectRoot + "." + registerID + ".heartbeat"
}

// EventSubject is where a register's adapter reports an event for the platform's record, as a
// request that the catalogue answers with an EventReply.
func EventSubject(registerID string) string { return subjectRoot + "." + registerID + ".event" }

// TaskConsumer is the durable consumer that a register's adapters share: adding adapter processes
// scales a register out.
func TaskConsumer(registerID string) string { return "register-" + registerID }

// RegisterIDFromSubject returns the register id in a protocol subject, or "" if there is none.
func RegisterIDFromSubject(subject string) string {
	rest, ok := strings.CutPrefix(subject, subjectRoot+".")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ".")
	return id
}

// DoneBucket is the key-value bucket of register registerID's effect record: by task id, the result
// of a finished task, an adapter instance's claim on a task under way, or the platform's
// cancellation. The platform provisions it; a register's credentials reach only its own.
func DoneBucket(registerID string) string { return "register-" + registerID + "-done" }
