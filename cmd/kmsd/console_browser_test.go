package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium tab driven through the DevTools protocol,
// with what the page threw collected so a test can fail on it.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string

	mu     sync.Mutex
	thrown []string
}

// chromiumPath finds the browser; a machine without it fails the test with
// the command that installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("KMSD_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: `bash scripts/ensure-tools.sh` installs it (Debian package chromium)")
	return ""
}

// screenshotDir is $KMSD_SCREENSHOT_DIR, or build/console-screenshots at
// the top of the checkout, so the pictures outlive the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KMSD_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "build", "console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// newBrowser starts Chromium with a fresh profile and a 1280 px window;
// the flags keep it from reaching for the network, which this machine's
// closed network answers by refusing connections.
func newBrowser(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// With --disable-dev-shm-usage Chromium keeps its shared memory in
		// TMPDIR: a directory of the test, removed with it.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	ctx, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc(); cancelTimeout() })
	b := &browser{t: t, ctx: tab, shots: screenshotDir(t)}
	// The first run starts the browser, with no deadline of its own.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	err := chromedp.Listen(tab, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.thrown = append(b.thrown, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs actions, failing the test with what the page shows.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\npage shows:\n%s", err, b.mainText())
	}
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v\npage shows:\n%s", expr, err, b.mainText())
	}
	return v
}

// mainText is what a user reads in the page's main area and header.
func (b *browser) mainText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("header")?.innerText || "") + "\n" + (document.querySelector("main")?.innerText || "") + "\n" + Array.from(document.querySelectorAll("dialog[open]"), d => d.innerText).join("\n")`))
	return s
}

// waitText waits until an element matching sel shows text (innerText,
// so only what is rendered visibly counts).
func (b *browser) waitText(sel, text string) {
	b.t.Helper()
	expr := fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).some(e => e.innerText.includes(%s))`, jsString(sel), jsString(text))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if eval[bool](b, expr) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %s shows %q; page shows:\n%s", sel, text, b.mainText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click presses the visible element an XPath finds, as a mouse would.
func (b *browser) click(xpath string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.Search(xpath), chromedp.NodeVisible))
}

// button is the XPath of a visible button (or link styled as one) whose
// text is label, inside scope ("" for anywhere, "//dialog[@open]" ...).
func button(scope, label string) string {
	return fmt.Sprintf(`%s//*[self::button or self::a][normalize-space()=%s]`, scope, xpathString(label))
}

func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return `'` + s + `'`
}

// labelled is the XPath of the visible form control whose label reads label.
func labelled(label string) string {
	return fmt.Sprintf(`//label[normalize-space()=%s]/following-sibling::*[self::input or self::textarea or self::select][1]`, xpathString(label))
}

// typeInto types text into the field labelled label, key by key.
func (b *browser) typeInto(label, text string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.Search(labelled(label)), text, chromedp.NodeVisible))
}

// setField replaces the value of the field labelled label.
func (b *browser) setField(label, value string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.Search(labelled(label)), value, chromedp.NodeVisible))
}

func (b *browser) visit(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
}

// shot saves a full-page PNG of what the browser shows.
func (b *browser) shot(name string) {
	b.t.Helper()
	// The page, not the notices of the steps before it.
	eval[bool](b, `document.getElementById("toasts").replaceChildren() === undefined`)
	b.do(chromedp.Sleep(150 * time.Millisecond))
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	b.labelled(name)
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// download clicks what xpath finds and returns the file the browser
// saves under name.
func (b *browser) download(xpath, name string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	_, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
	if err != nil {
		b.t.Fatal(err)
	}
	b.click(xpath)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(data) > 0 {
			return data
		}
	}
	entries, _ := os.ReadDir(dir)
	b.t.Fatalf("no download named %s; the folder holds %v", name, entries)
	return nil
}

// labelled fails the test when a visible control of the page has no name
// a screen reader can read: a form field without a label, a button or
// link without text.
func (b *browser) labelled(page string) {
	b.t.Helper()
	missing := eval[[]string](b, `Array.from(document.querySelectorAll("input, select, textarea, button, a[href], [role=tab]"))
		.filter(e => e.offsetParent !== null || e.getClientRects().length > 0)
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby") && !e.textContent.trim())
		.map(e => e.outerHTML.slice(0, 120))`)
	if len(missing) > 0 {
		b.t.Errorf("page %s: controls without an accessible name:\n%s", page, strings.Join(missing, "\n"))
	}
}

// noErrors fails the test if the page threw anything.
func (b *browser) noErrors() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.thrown) > 0 {
		b.t.Fatalf("the page threw:\n%s", strings.Join(b.thrown, "\n"))
	}
}
