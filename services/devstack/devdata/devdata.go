// Package devdata is the made-up world of make dev and make cluster: the demo registers (the Kanta
// processing log served by the generic SQL adapter), the demo people and the registry office's staff
// at the dev identity provider, and the office's e-mail address. It links no server, so that the
// small commands of make cluster stay small.
package devdata

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/sqladapter"
	"kirjaamo.dev/services/auth/devidp"
	"kirjaamo.dev/services/office"
)

// OfficeEmail is the dev registry office's address: its alarms land in the dev mailbox.
const OfficeEmail = "kirjaamo@localhost"

// Staff are the dev identity provider's registry office accounts.
var Staff = []devidp.Person{
	{Subject: "staff-kaisa", Name: "Kaisa Kirjaaja", GivenName: "Kaisa", FamilyName: "Kirjaaja", Email: "kaisa.kirjaaja@kirjaamo.example", Roles: []string{office.RoleClerk}},
	{Subject: "staff-tuomas", Name: "Tuomas Tietosuoja", GivenName: "Tuomas", FamilyName: "Tietosuoja", Email: "tuomas.tietosuoja@kirjaamo.example", Roles: []string{office.RoleDPO}},
	{Subject: "staff-auli", Name: "Auli Auditoija", GivenName: "Auli", FamilyName: "Auditoija", Email: "auli.auditoija@kirjaamo.example", Roles: []string{office.RoleAuditor}},
}

// Registers are the five demo registers, with the Kanta processing log served by the generic
// SQL adapter from its configuration (adapters/sqladapter/examples) instead of by Go code: the demo
// package still creates and seeds its table, before the adapter checks it.
func Registers(db *pgxpool.Pool) []demo.Register {
	regs := demo.Registers(db)
	cfg, err := sqladapter.ReadConfigFS(sqladapter.Examples, "examples/kanta-processing-log.json")
	if err != nil {
		panic(err) // embedded, and tested in sqladapter
	}
	for i, reg := range regs {
		if reg.Declaration().RegisterID == cfg.RegisterDeclaration().RegisterID {
			regs[i] = sqladapter.New(cfg, db).BeforeSetup(reg.Setup)
		}
	}
	return regs
}

// People are the dev identity provider's accounts: the demo people, the registry office's staff and
// LowAssurance.
func People() []devidp.Person {
	people := make([]devidp.Person, 0, len(demo.People)+len(Staff))
	for _, p := range demo.People {
		people = append(people, devidp.Person{Subject: p.Subject, Name: p.Name(), GivenName: p.GivenName, FamilyName: p.FamilyName,
			PersonalIdentityCode: p.PersonalIdentityCode, Email: p.Email, Phone: p.Phone, ACR: "http://ftn.ficora.fi/2017/loa3"})
	}
	return append(append(people, Staff...), LowAssurance)
}

// LowAssurance is a dev identity provider person identified below the portal's minimum level of
// assurance (a foreign eIDAS identification at level low): the portal refuses them, saying why.
// They are no demo register's person.
var LowAssurance = devidp.Person{Subject: "demo-low-assurance", Name: "Teemu Testaaja", GivenName: "Teemu", FamilyName: "Testaaja",
	PersonalIdentityCode: "121275-9159", ACR: "http://eidas.europa.eu/LoA/low"}
