// Package demo holds the five demo registers of `make dev`: real adapters, built on the adapter SDK
// only, over their own PostgreSQL tables filled with made-up people. They mirror the public
// documents in shared/seeds so that every rule of the rights brief can be seen working.
package demo

// Person is a made-up person. Identity codes are in the test range of the Finnish personal identity
// code (individual numbers 900-999), with valid check characters.
type Person struct {
	Subject              string
	GivenName            string
	FamilyName           string
	PersonalIdentityCode string
	Email                string
	Phone                string
}

// Name is the person's full name.
func (p Person) Name() string { return p.GivenName + " " + p.FamilyName }

// People are the demo data subjects. Each shows something different:
//   - Aino is in every register, including Koronavilkku through the phone number she gave;
//   - Matti is a Kanta client contact and was invited to the clinic's events;
//   - Liisa appears only in the Kanta processing log;
//   - Erik is in no register at all, so every register answers "no data held".
var People = []Person{
	{Subject: "demo-aino", GivenName: "Aino", FamilyName: "Virtanen", PersonalIdentityCode: "150385-9013",
		Email: "aino.virtanen@example.fi", Phone: "+358401110001"},
	{Subject: "demo-matti", GivenName: "Matti", FamilyName: "Korhonen", PersonalIdentityCode: "020794-9029",
		Email: "matti.korhonen@example.fi", Phone: "+358401110002"},
	{Subject: "demo-liisa", GivenName: "Liisa", FamilyName: "Mäkinen", PersonalIdentityCode: "311260-9039",
		Email: "liisa.makinen@example.fi", Phone: "+358401110003"},
	{Subject: "demo-erik", GivenName: "Erik", FamilyName: "Lindqvist", PersonalIdentityCode: "081001A904M",
		Email: "erik.lindqvist@example.fi", Phone: "+358401110004"},
}
