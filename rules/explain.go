package rules

import (
	"strings"

	"kirjaamo.dev/contracts"
)

var headings = struct {
	register, right, outcome, dispatch, why, citations, notice, followUps, flags contracts.Text
}{
	register:  tx("Rekisteri", "Register", "Register"),
	right:     tx("Oikeus", "Rättighet", "Right"),
	outcome:   tx("Ratkaisu", "Utfall", "Outcome"),
	dispatch:  tx("Tehtävä rekisterille", "Uppdrag till registret", "Task for the register"),
	why:       tx("Perustelut", "Motivering", "Why"),
	citations: tx("Säännökset", "Bestämmelser", "Provisions"),
	notice:    tx("Ilmoitus (12 artiklan 4 kohta)", "Underrättelse (artikel 12.4)", "Notice (Art 12(4))"),
	followUps: tx("Jatkotoimet", "Uppföljning", "Follow-ups"),
	flags:     tx("Huomiot käsittelijälle", "Markeringar för handläggaren", "Flags for the office"),
}

var followUpNames = map[FollowUpKind]contracts.Text{
	FollowUpNotifyRecipients: tx("Ilmoita vastaanottajille", "Underrätta mottagarna", "Notify recipients"),
	FollowUpLiftNotice:       tx("Ilmoita rekisteröidylle ennen rajoituksen poistamista", "Underrätta den registrerade innan begränsningen hävs", "Tell the subject before lifting the restriction"),
}

var flagNames = map[FlagCode]contracts.Text{
	FlagPossiblyExcessive:  tx("Mahdollisesti kohtuuton pyyntö", "Möjligen orimlig begäran", "Possibly excessive request"),
	FlagDerogationPossible: tx("Kansallinen poikkeus mahdollinen", "Nationellt undantag möjligt", "National derogation possible"),
}

// Explain renders an outcome for a person, in one language: the outcome, the task for the register,
// the reasons, the provisions cited, the Art 12(4) notice when due, follow-ups and flags. The CLI and
// the office show it as it is.
func Explain(out Outcome, lang contracts.Language) string {
	var b strings.Builder
	line := func(heading contracts.Text, value string) {
		b.WriteString(heading.In(lang) + ": " + value + "\n")
	}
	section := func(heading contracts.Text) { b.WriteString(heading.In(lang) + ":\n") }
	indent := func(text string) {
		for _, l := range strings.Split(text, "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	line(headings.register, out.RegisterID)
	right := string(out.Right)
	if name, ok := rightNames[out.Right]; ok {
		right = name.In(lang) + " (GDPR Art " + out.Right.Article() + ")"
	}
	line(headings.right, right)
	outcome := string(out.Code)
	if name, ok := codeNames[out.Code]; ok {
		outcome = name.In(lang) + " [" + string(out.Code) + "]"
	}
	line(headings.outcome, outcome)
	if out.Dispatch || out.Code == CodeReferToController {
		task := string(out.Operation)
		if len(out.Identifiers) > 0 {
			ids := make([]string, len(out.Identifiers))
			for i, t := range out.Identifiers {
				ids[i] = string(t)
			}
			task += " (" + strings.Join(ids, ", ") + ")"
		}
		if len(out.Purposes) > 0 {
			task += " → " + strings.Join(out.Purposes, ", ")
		}
		line(headings.dispatch, task)
	}
	if text := out.Explanation.In(lang); text != "" {
		section(headings.why)
		indent(text)
	}
	if len(out.Citations) > 0 {
		section(headings.citations)
		for _, c := range out.Citations {
			indent("- " + c.Ref + ": " + c.Label.In(lang))
		}
	}
	if out.NoticeDue && out.Notice != nil {
		section(headings.notice)
		indent(out.Notice.In(lang))
	}
	if len(out.FollowUps) > 0 {
		section(headings.followUps)
		for _, f := range out.FollowUps {
			text := "- " + followUpNames[f.Kind].In(lang) + " (" + f.Citation.Ref + ")"
			if len(f.Recipients) > 0 {
				names := make([]string, len(f.Recipients))
				for i, r := range f.Recipients {
					names[i] = r.In(lang)
				}
				text += ": " + strings.Join(names, "; ")
			}
			indent(text)
		}
	}
	if len(out.Flags) > 0 {
		section(headings.flags)
		for _, f := range out.Flags {
			refs := make([]string, len(f.Citations))
			for i, c := range f.Citations {
				refs[i] = c.Ref
			}
			indent("- " + flagNames[f.Code].In(lang) + " (" + strings.Join(refs, ", ") + "): " + f.Evidence.In(lang))
		}
	}
	return b.String()
}
