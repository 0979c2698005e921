// Package rules decides, from a register's declaration alone, what happens to a data subject request
// at that register: whether a task is dispatched, or why not, with the articles cited and the
// Art 12(4) notice when the request is not acted on as asked. It is pure: no I/O, no clock, no
// dependencies beyond kirjaamo.dev/contracts and the standard library, so that the same request
// always gets the same outcome and the outcome can be replayed from the record.
//
// The rules it implements are specified in docs/rights-rules.md, section by section with the
// provisions they rest on; each function names its section.
//
// Evaluate runs the gates in order, the first that fails deciding (docs/rights-rules.md#gates-in-order):
// scope (the subject, or a representative within a verified mandate; a living person), identity
// (proportionate to the data, Art 12(6)), abuse (a flag for a person, Art 12(5), never a refusal),
// identifiability (Art 11(2), for Art 15 to 20 only), statutory restriction (Art 23 with the national
// provision), and the right × legal basis matrix with its modifiers. Conclude is the substance gate
// after the register answers, and completes the follow-ups (Art 19, Art 18(3)).
//
// A register with several purposes keeps different data for different reasons, so gates 5 and 6
// are decided purpose by purpose and combined: if the right reaches every purpose, the task is
// dispatched (partially_restricted when national law holds part back); if it reaches some, it is
// dispatched for those (partially_applicable, Outcome.Purposes naming them) with the Art 12(4)
// notice for the rest; if none, the outcome takes the most specific ground any purpose gives
// (restricted_by_law, then refused_exception, then not_applicable) and keeps every purpose's
// citations and reasons. See docs/rights-rules.md#several-purposes.
//
// The deadlines of a request are package deadline (docs/procedure.md#deadline).
package rules
