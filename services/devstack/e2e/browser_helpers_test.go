package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"kirjaamo.dev/devkit/logbuf"
	"kirjaamo.dev/services/devstack"
)

const (
	// stepTimeout bounds one browser step: a click and the page it leads to, a read, a download.
	stepTimeout = 20 * time.Second
	// politeReload is how often a waiting person reloads a page that is not there yet.
	politeReload = 500 * time.Millisecond
)

// syncBuffer collects the platform's log output from many goroutines.
type syncBuffer = logbuf.Buffer // what the code under test logged

// tail is the last n lines, for a failure message.
// lastLines is the end of what was logged, for a failure message.
func lastLines(b *syncBuffer, n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// chromiumPath is the browser the test drives. Without it the test cannot run: that is a failure in
// CI, where the browser is part of the machine, and a skip on a developer's machine.
func chromiumPath(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the browser test needs %s: %v", path, err)
		}
		t.Skipf("the browser test needs %s: %v", path, err)
	}
	return path
}

// startPlatform runs the whole platform in-process on free ports, logging into logs at debug
// level, so that the privacy check of the log sees everything any component writes.
func startPlatform(t *testing.T, logs *syncBuffer) *devstack.Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole platform and a browser; skipped by -short (make test-short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	started := time.Now()
	stack, err := devstack.Start(ctx, devstack.Config{DataDir: t.TempDir(), Host: "127.0.0.1", FastPostgres: true, Limits: devstack.TestLimits, Logger: logger})
	if err != nil {
		t.Fatalf("the platform did not start: %v\nlog tail:\n%s", err, lastLines(logs, 40))
	}
	t.Cleanup(stack.Stop)
	t.Logf("platform up in %s: portal %s, office %s, identity provider %s", time.Since(started).Round(time.Millisecond),
		stack.PortalURL, stack.OfficeURL, stack.IDPURL)
	return stack
}

// startBrowser starts headless Chromium with a fresh profile and returns a context that owns it.
// Everything the browser does ends with within.
func startBrowser(t *testing.T, execPath string, within time.Duration) context.Context {
	t.Helper()
	output := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox, // the test may run as root, where Chromium refuses its sandbox
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(output),
	)
	deadlineCtx, cancelDeadline := context.WithTimeout(context.Background(), within)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(deadlineCtx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelDeadline()
		if t.Failed() {
			t.Logf("chromium output:\n%s", output.String())
		}
	})
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("chromium did not start: %v\n%s", err, output.String())
	}
	return browserCtx
}

// tab is one person's browser tab, in a browser context of its own, so that the citizen and the
// clerk share no cookies. It records the tab's network traffic for the privacy checks.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	net  *networkLog
}

func openTab(t *testing.T, browserCtx context.Context, name string) *tab {
	t.Helper()
	net := &networkLog{}
	// The listener is added before the tab's first command, so no request of the tab escapes it.
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext(), chromedp.WithListener(net.record))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: the tab did not open: %v", name, err)
	}
	return &tab{t: t, name: name, ctx: ctx, net: net}
}

// fatalf ends the test with what the tab shows, so that a platform defect can be read from the
// report without running the test again.
func (b *tab) fatalf(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf("%s: %s\n%s", b.name, fmt.Sprintf(format, args...), b.describe())
}

// describe is the tab's address and visible text, read without waiting.
func (b *tab) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Sprintf("(the page cannot be read: %v)", err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(text) > 3000 {
		text = text[:3000] + "…"
	}
	return fmt.Sprintf("page %s shows:\n%s", loc, text)
}

// open goes to an address, as a person typing it, and returns the response of the page it ends on.
func (b *tab) open(address string) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(address))
	if err != nil {
		b.fatalf("opening %s: %v", address, err)
	}
	return resp
}

// clickAndWaitForPage clicks an element that leads to another page (a link or a form's button), and
// waits until the page at the end of any redirects has loaded. It returns that page's response.
func (b *tab) clickAndWaitForPage(sel string) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.fatalf("clicking %s: %v", sel, err)
	}
	if resp == nil {
		b.fatalf("clicking %s led to no page", sel)
	}
	return resp
}

// do runs steps that stay on the page, such as typing into a field.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fatalf("%s: %v", what, err)
	}
}

// typeInto replaces a field's text with what a person types.
func (b *tab) typeInto(sel, text string) {
	b.t.Helper()
	b.do("typing into "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// eval reads something from the loaded page without waiting for it to appear.
func eval[T any](b *tab, expression string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		b.fatalf("reading the page (%s): %v", expression, err)
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// has reports whether the page has an element matching sel now.
func (b *tab) has(sel string) bool {
	b.t.Helper()
	return eval[bool](b, `document.querySelector(`+jsString(sel)+`) !== null`)
}

// text is the visible text of the element matching sel, or "" if the page has none.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return eval[string](b, `(e => e ? e.innerText.trim() : "")(document.querySelector(`+jsString(sel)+`))`)
}

// mustText is the visible text of the element matching sel, which the page must have.
func (b *tab) mustText(sel string) string {
	b.t.Helper()
	if !b.has(sel) {
		b.fatalf("the page has no %s", sel)
	}
	return b.text(sel)
}

// location is the address of the page the tab shows.
func (b *tab) location() string {
	b.t.Helper()
	return eval[string](b, `document.location.href`)
}

// reloadUntil reloads the page every half second, as a patient person would, until ready says the
// page shows what they wait for. It fails after limit, with what the page showed last.
func (b *tab) reloadUntil(what string, limit time.Duration, ready func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for !ready() {
		if time.Now().After(deadline) {
			b.fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(politeReload)
		ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
		err := chromedp.Do(ctx, chromedp.Reload())
		cancel()
		if err != nil {
			b.fatalf("reloading while waiting for %s: %v", what, err)
		}
	}
}

// downloadByClicking clicks a download link and lets the browser save the file, as it does for a
// person, into dir. It returns the file's name as the server suggested it and its content.
func (b *tab) downloadByClicking(sel, dir string) (suggestedName string, content []byte) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	// Subscribe before the click, so that no event of the download is missed.
	begun := chromedp.Events(ctx, browser.DownloadWillBegin)
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:         browser.SetDownloadBehaviorBehaviorAllowAndName,
		BrowserContextID: chromedp.FromContext(b.ctx).BrowserContextID,
		DownloadPath:     dir,
		EventsEnabled:    new(true),
	})
	if err != nil {
		b.fatalf("allowing downloads: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.fatalf("clicking %s: %v", sel, err)
	}
	for ev, err := range begun {
		if err != nil {
			b.fatalf("clicking %s started no download: %v", sel, err)
		}
		suggestedName = ev.SuggestedFilename
		break
	}
	for ev, err := range progress {
		if err != nil {
			b.fatalf("the download of %s did not complete: %v", sel, err)
		}
		switch ev.State {
		case browser.DownloadProgressStateInProgress:
		case browser.DownloadProgressStateCanceled:
			b.fatalf("the browser cancelled the download of %s", sel)
		case browser.DownloadProgressStateCompleted:
			// allowAndName saves the file under the download's id.
			saved, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.fatalf("reading the downloaded file: %v", err)
			}
			return suggestedName, saved
		}
	}
	b.fatalf("the download of %s never completed", sel)
	return "", nil
}

// cookies are the cookies the tab's browser context holds for the address.
func (b *tab) cookies(address string) []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{address}})
	if err != nil {
		b.fatalf("reading the cookies of %s: %v", address, err)
	}
	return res.Cookies
}

// allCookies are every cookie in the tab's browser context, whatever site set it.
func (b *tab) allCookies() []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: chromedp.FromContext(b.ctx).BrowserContextID})
	if err != nil {
		b.fatalf("reading the browser context's cookies: %v", err)
	}
	return res.Cookies
}

// networkLog is what a tab sent and received, recorded in the order the browser reports it.
type networkLog struct {
	mu sync.Mutex
	// requests are every request the tab made, including each hop of a redirect.
	requests []sentRequest
	// cookiesSet are the names of the cookies that responses asked the browser to set.
	cookiesSet []string
	// problems are responses with a server error and subresources that failed to load.
	problems []string
}

type sentRequest struct {
	URL string
	// Navigation is a document load: following a link, submitting a form, a redirect, a download.
	Navigation bool
	// Document is the page the request was made for.
	Document string
	Type     network.ResourceType
}

// browsersOwnFavicon reports whether the request is the icon that Chromium itself asks of every
// site whose page it shows: the page did not choose it, and it goes nowhere but to that page's site.
func (r sentRequest) browsersOwnFavicon() bool {
	u, err := url.Parse(r.URL)
	return err == nil && r.Type == network.ResourceTypeOther && u.Path == "/favicon.ico" && origin(r.URL) == origin(r.Document)
}

// record runs in the tab's event loop, so it only copies what it needs.
func (n *networkLog) record(ev any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		n.requests = append(n.requests, sentRequest{URL: ev.Request.URL, Navigation: ev.Type == network.ResourceTypeDocument,
			Document: ev.DocumentURL, Type: ev.Type})
	case *network.EventResponseReceivedExtraInfo:
		// The raw headers, including those of redirects, which is where a sign-in sets its cookie.
		for name, v := range ev.Headers {
			if !strings.EqualFold(name, "Set-Cookie") {
				continue
			}
			for line := range strings.SplitSeq(fmt.Sprint(v), "\n") {
				cookie, _, _ := strings.Cut(line, "=")
				n.cookiesSet = append(n.cookiesSet, strings.TrimSpace(cookie))
			}
		}
		if ev.StatusCode >= 500 {
			n.problems = append(n.problems, fmt.Sprintf("a response with status %d", ev.StatusCode))
		}
	case *network.EventResponseReceived:
		if ev.Response.Status >= 500 {
			n.problems = append(n.problems, fmt.Sprintf("%s answered %d", ev.Response.URL, ev.Response.Status))
		}
	case *network.EventLoadingFailed:
		// A document that turns into a download is aborted as a page load; that is not a failure.
		if ev.Type != network.ResourceTypeDocument {
			n.problems = append(n.problems, fmt.Sprintf("a %s failed to load: %s", ev.Type, ev.ErrorText))
		}
	}
}

func (n *networkLog) snapshot() (requests []sentRequest, cookiesSet, problems []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]sentRequest(nil), n.requests...), append([]string(nil), n.cookiesSet...), append([]string(nil), n.problems...)
}

// origin is scheme://host:port of an address.
func origin(address string) string {
	u, err := url.Parse(address)
	if err != nil || u.Host == "" {
		return address
	}
	return u.Scheme + "://" + u.Host
}
