package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/workflows/request"
)

// ReadJSON admits an API call's body, the same way on every API: the media type application/json
// exactly (a charset of utf-8 is allowed), at most limit bytes of UTF-8, one JSON object with no
// unknown fields and nothing after it. It answers the client itself (415, 413 or 400, saying what is wrong
// without echoing the body) when the body is not admitted. An empty body is admitted only if
// optional, and leaves v as it was.
func ReadJSON(w http.ResponseWriter, r *http.Request, limit int64, v any, optional bool) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if optional && r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return true
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) || len(params) > 1 {
		WriteProblem(w, http.StatusUnsupportedMediaType, "Unsupported media type", "send application/json", nil)
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err == nil && !utf8.Valid(body) {
		// encoding/json would take invalid UTF-8 as U+FFFD, silently: what a person sent is refused
		// rather than changed.
		WriteProblem(w, http.StatusBadRequest, "Invalid JSON", "the body must be UTF-8", nil)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err == nil {
		err = dec.Decode(v)
	}
	if errors.Is(err, io.EOF) && optional {
		return true
	}
	if err == nil {
		// Exactly one value: anything after it, even another object, is refused.
		if _, more := dec.Token(); !errors.Is(more, io.EOF) {
			err = errTrailing
		}
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			WriteProblem(w, http.StatusRequestEntityTooLarge, "Too large", "the body may be at most "+strconv.FormatInt(limit, 10)+" bytes", nil)
			return false
		}
		WriteProblem(w, http.StatusBadRequest, "Invalid JSON", jsonProblem(err), nil)
		return false
	}
	return true
}

var errTrailing = errors.New("trailing data")

// jsonProblem explains a decoding error without echoing the body back, or Go's names for things.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errTrailing):
		return "the body must be one JSON object with nothing after it"
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the body is not valid JSON"
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "the body must be a JSON object"
		}
		return "field " + typ.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "the body could not be read as JSON"
}

// StepDone answers an API call whose step the request workflow did not take: 422 for an invalid
// input, field by field; 409 with the reason for a step the request does not take now, or a
// request that is over; 503 if the step could not be carried out now. It reports whether the step
// was done.
func StepDone(w http.ResponseWriter, log *slog.Logger, err error) bool {
	refused, isRefused := request.AsRefused(err)
	switch {
	case err == nil:
		return true
	case isRefused && len(refused.Fields) > 0:
		WriteProblem(w, http.StatusUnprocessableEntity, "Invalid input", "", refused.Fields)
	case isRefused:
		WriteProblem(w, http.StatusConflict, "Not done", refused.Reason, nil)
	case errors.Is(err, request.ErrNotFound):
		WriteProblem(w, http.StatusConflict, "Not done", "the request is closed", nil)
	default:
		log.Warn("api step not done", "error", err)
		WriteProblem(w, http.StatusServiceUnavailable, "Unavailable", "the step could not be carried out now; try again", nil)
	}
	return false
}

// Invalid answers an API call whose input failed validation, field by field.
func Invalid(w http.ResponseWriter, title string, ve *contracts.ValidationError) {
	WriteProblem(w, http.StatusUnprocessableEntity, title, "", ve.Fields)
}
