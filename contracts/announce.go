package contracts

import "time"

// Protocol versions of the register catalogue's messages.
const (
	AnnounceProtocol  = "kirjaamo.announce/v1"
	HeartbeatProtocol = "kirjaamo.heartbeat/v1"
)

// Announcement is how a register's adapter tells the platform what it is: its declaration and the
// operations its code implements. The catalogue answers with an AnnounceReply.
type Announcement struct {
	Protocol     string      `json:"protocol" validate:"required,eq=kirjaamo.announce/v1"`
	Declaration  Declaration `json:"declaration"`
	Capabilities []Operation `json:"capabilities" validate:"omitempty,max=7,unique,dive,operation"`
	Instance     string      `json:"instance" validate:"required,max=200"`
}

// Validate checks the announcement and the declaration it carries.
func (a *Announcement) Validate() error {
	ve := &ValidationError{}
	if err := Validate(a); err != nil {
		v, ok := AsValidationError(err)
		if !ok {
			return err
		}
		ve.Fields = append(ve.Fields, v.Fields...)
	}
	if err := a.Declaration.Validate(); err != nil {
		v, ok := AsValidationError(err)
		if !ok {
			return err
		}
		for _, f := range v.Fields {
			ve.Add("declaration."+f.Field, f.Rule, f.Message)
		}
	}
	return ve.OrNil()
}

// Declaration states in the catalogue.
const (
	// DeclarationInForce: the version was approved by a DPO and requests received from now on use it.
	DeclarationInForce = "in_force"
	// DeclarationPendingApproval: a new or changed version waits for a DPO; the previous approved
	// version, if any, stays in force.
	DeclarationPendingApproval = "pending_approval"
)

// AnnounceReply is the catalogue's answer to an announcement.
type AnnounceReply struct {
	Accepted bool   `json:"accepted"`
	Status   string `json:"status,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Error    *Error `json:"error,omitempty"`
}

// Heartbeat says that an adapter instance is alive. A register none of whose instances has sent one
// lately is shown as unavailable.
type Heartbeat struct {
	Protocol   string    `json:"protocol" validate:"required,eq=kirjaamo.heartbeat/v1"`
	RegisterID string    `json:"register_id" validate:"required,register_id"`
	Instance   string    `json:"instance" validate:"required,max=200"`
	Digest     string    `json:"digest" validate:"max=100"`
	At         time.Time `json:"at" validate:"required"`
}
