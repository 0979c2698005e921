package contracts

import (
	"fmt"
	"slices"
)

// Right is a data subject right under the GDPR that a request can invoke: the rows of
// docs/rights-rules.md#the-matrix. docs/adding-a-right.md lists what a new one asks for.
type Right string

const (
	RightAccess        Right = "access"        // Art 15
	RightRectification Right = "rectification" // Art 16
	RightErasure       Right = "erasure"       // Art 17
	RightRestriction   Right = "restriction"   // Art 18
	RightPortability   Right = "portability"   // Art 20
	RightObjection     Right = "objection"     // Art 21
)

// Rights lists every right in the order of the regulation's articles. The portal and the office
// offer these, and the tests of every table that must handle each right iterate it.
var Rights = []Right{RightAccess, RightRectification, RightErasure, RightRestriction, RightPortability, RightObjection}

// Valid reports whether r is one of the rights the platform handles.
func (r Right) Valid() bool { return r.Article() != "" }

// Article is the GDPR article number that grants the right, e.g. "15", and "" for a value that is
// not a right.
func (r Right) Article() string {
	switch r {
	case RightAccess:
		return "15"
	case RightRectification:
		return "16"
	case RightErasure:
		return "17"
	case RightRestriction:
		return "18"
	case RightPortability:
		return "20"
	case RightObjection:
		return "21"
	}
	return ""
}

// Operation is what a register adapter is asked to do for a task (docs/rights-rules.md#operations).
type Operation string

const (
	OpLookup          Operation = "lookup"           // access and portability: return what is held
	OpRectify         Operation = "rectify"          // correct a field
	OpErase           Operation = "erase"            // delete or anonymise
	OpRestrict        Operation = "restrict"         // mark as only stored
	OpLiftRestriction Operation = "lift_restriction" // end a restriction, after the Art 18(3) notice
	OpListRecipients  Operation = "list_recipients"  // who received the data, for Art 19 notices
	OpObject          Operation = "object"           // stop processing for the purpose objected to
)

// Operations lists every operation of the wire protocol.
var Operations = []Operation{OpLookup, OpRectify, OpErase, OpRestrict, OpLiftRestriction, OpListRecipients, OpObject}

// Valid reports whether o is an operation of the protocol.
func (o Operation) Valid() bool { return slices.Contains(Operations, o) }

// OperationFor is the operation that carries out a right at a register. A value that is not a
// right has none, and gets an error rather than a guess.
func OperationFor(r Right) (Operation, error) {
	switch r {
	case RightAccess, RightPortability:
		return OpLookup, nil
	case RightRectification:
		return OpRectify, nil
	case RightErasure:
		return OpErase, nil
	case RightRestriction:
		return OpRestrict, nil
	case RightObjection:
		return OpObject, nil
	}
	return "", fmt.Errorf("contracts: %q is not a right, so no operation carries it out", string(r))
}
