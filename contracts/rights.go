package contracts

// Right is a data subject right under the GDPR that a request can invoke: the rows of
// docs/rights-rules.md#the-matrix.
type Right string

const (
	RightAccess        Right = "access"        // Art 15
	RightRectification Right = "rectification" // Art 16
	RightErasure       Right = "erasure"       // Art 17
	RightRestriction   Right = "restriction"   // Art 18
	RightPortability   Right = "portability"   // Art 20
	RightObjection     Right = "objection"     // Art 21
)

// Rights lists every right in the order of the regulation's articles.
var Rights = []Right{RightAccess, RightRectification, RightErasure, RightRestriction, RightPortability, RightObjection}

var rightArticles = map[Right]string{
	RightAccess:        "15",
	RightRectification: "16",
	RightErasure:       "17",
	RightRestriction:   "18",
	RightPortability:   "20",
	RightObjection:     "21",
}

// Valid reports whether r is one of the rights the platform handles.
func (r Right) Valid() bool { _, ok := rightArticles[r]; return ok }

// Article is the GDPR article number that grants the right, e.g. "15".
func (r Right) Article() string { return rightArticles[r] }

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
func (o Operation) Valid() bool {
	for _, known := range Operations {
		if o == known {
			return true
		}
	}
	return false
}

// OperationFor is the operation that carries out a right at a register.
func OperationFor(r Right) Operation {
	switch r {
	case RightRectification:
		return OpRectify
	case RightErasure:
		return OpErase
	case RightRestriction:
		return OpRestrict
	case RightObjection:
		return OpObject
	default:
		return OpLookup
	}
}
