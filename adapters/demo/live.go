package demo

import (
	"context"
	"time"
)

// liveViews are the made-up uses of Aino's data that LiveViews adds to the log, in turn.
var liveViews = []struct{ organisation, purpose, service, role, professional, operation, recipient string }{
	{"Esimerkkilän terveyskeskus", "care relationship: appointment", "Patient Data Repository", "physician", "Laura Lääkäri", "view", ""},
	{"Esimerkkilän sairaala, päivystys", "care relationship: emergency", "Patient Data Repository", "nurse", "Tuula Terveydenhoitaja", "view", ""},
	{"Apteekki Esimerkki", "dispensing a prescription", "Prescription Centre", "pharmacist", "Pekka Proviisori", "view", ""},
	{"Esimerkkilän hammashoitola", "care relationship: appointment", "Patient Data Repository", "dentist", "Hanna Hammaslääkäri", "view", ""},
	{"Esimerkkilän terveyskeskus", "disclosure to Kela for a benefit decision", "Patient Data Repository", "physician", "Laura Lääkäri", "disclosure", "Kela"},
	{"Esimerkkilän sairaala, laboratorio", "care relationship: laboratory", "Patient Data Repository", "laboratory nurse", "Leena Laboratoriohoitaja", "change", ""},
}

// LiveViews adds a made-up use of Aino's data to the log every so often until ctx ends, one of
// liveViews in turn, so that the dev stack's "Who has used my data" page is never empty and shows
// new uses as they come. Aino is in every register; Liisa's log is left alone, since tests count it.
func (r KantaProcessingLog) LiveViews(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		v := liveViews[n%len(liveViews)]
		_, err := r.DB.Exec(ctx, `INSERT INTO kanta_log.entries
			(personal_identity_code, processed_at, organisation, purpose, service, role, professional, operation, recipient)
			VALUES ($1, now(), $2, $3, $4, $5, $6, $7, nullif($8, ''))`,
			People[0].PersonalIdentityCode, v.organisation, v.purpose, v.service, v.role, v.professional, v.operation, v.recipient)
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
}
