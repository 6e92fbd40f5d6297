// Command apicheck records and checks the exported API of lameduck's
// packages, in the spirit of Go's own api/ files: one line per exported
// constant, variable, function, type, struct field and method, sorted, in
// api/<package path with / as _>.txt at the repository's root.
//
//	go -C .ci/apicheck run . -root ../..       # check
//	go -C .ci/apicheck run . -root ../.. -w    # record the current API
//
// The API is recorded as this platform's build sees it (Linux in CI).
// The check fails when the exported API differs from the recorded files,
// and when a line added or removed since the last release (the files under
// api/v*/, the highest version) names an identifier that the CHANGELOG's
// first section does not mention. It type-checks the packages against the
// export data of the build cache (go list -export), so it is quick.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// modules are the modules whose packages have a public API, relative to
// the root.
var modules = []string{".", "manifestcheck"}

func main() {
	root := flag.String("root", ".", "the repository's root")
	write := flag.Bool("w", false, "write the current API to api/ instead of checking it")
	flag.Parse()
	if err := run(*root, *write, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "apicheck:", err)
		os.Exit(1)
	}
}

func run(root string, write bool, out io.Writer) error {
	current := map[string][]string{} // file name -> lines
	for _, m := range modules {
		pkgs, err := listPackages(filepath.Join(root, m))
		if err != nil {
			return err
		}
		for _, p := range pkgs {
			lines, err := describe(p)
			if err != nil {
				return fmt.Errorf("%s: %w", p.path, err)
			}
			current[fileName(p.path)] = lines
			fmt.Fprintf(out, "%-50s %3d exported names\n", p.path, countNames(lines))
		}
	}
	dir := filepath.Join(root, "api")
	if write {
		return writeAll(dir, current)
	}
	var errs []error
	for name, lines := range current {
		recorded, err := readLines(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (record the API with: go -C .ci/apicheck run . -root ../.. -w)", name, err))
			continue
		}
		if added, removed := diff(recorded, lines); len(added)+len(removed) > 0 {
			errs = append(errs, fmt.Errorf("api/%s does not match the code:\n%s  record it with: go -C .ci/apicheck run . -root ../.. -w, and add a CHANGELOG line",
				name, show(added, removed)))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return checkChangelog(root, dir, current)
}

type pkg struct {
	path, dir string
	files     []string // the files that build here, from go list
}

// listPackages lists the non-main, non-internal packages of the module in
// dir, and builds their export data.
func listPackages(dir string) ([]pkg, error) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{.Name}}\t{{join .GoFiles \" \"}}", "./...")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s: %w", dir, err)
	}
	var pkgs []pkg
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 4 || f[2] == "main" || strings.Contains(f[0], "/internal/") {
			continue
		}
		pkgs = append(pkgs, pkg{f[0], f[1], strings.Fields(f[3])})
	}
	return pkgs, nil
}

// describe type-checks the package in p.dir and returns its API lines.
func describe(p pkg) ([]string, error) {
	exports, err := exportData(p.dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range p.files {
		f, err := parser.ParseFile(fset, filepath.Join(p.dir, n), nil, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	lookup := func(path string) (io.ReadCloser, error) {
		if f, ok := exports[path]; ok && f != "" {
			return os.Open(f)
		}
		return nil, fmt.Errorf("no export data for %s", path)
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", lookup)}
	tp, err := conf.Check(p.path, fset, files, nil)
	if err != nil {
		return nil, err
	}
	return apiLines(tp), nil
}

func exportData(dir string) (map[string]string, error) {
	cmd := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -export in %s: %w", dir, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, "\t")
		m[k] = v
	}
	return m, nil
}

// apiLines returns one line per exported name, field and method, sorted.
func apiLines(p *types.Package) []string {
	q := types.RelativeTo(p)
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	for _, name := range p.Scope().Names() {
		o := p.Scope().Lookup(name)
		if !o.Exported() {
			continue
		}
		switch o := o.(type) {
		case *types.Const:
			add("const %s %s = %s", o.Name(), types.TypeString(o.Type(), q), o.Val().ExactString())
		case *types.Var:
			add("var %s %s", o.Name(), types.TypeString(o.Type(), q))
		case *types.Func:
			add("%s", types.ObjectString(o, q))
		case *types.TypeName:
			typeLines(o, q, add)
		}
	}
	slices.Sort(lines)
	return lines
}

func typeLines(o *types.TypeName, q types.Qualifier, add func(string, ...any)) {
	name := o.Name()
	switch u := o.Type().Underlying().(type) {
	case *types.Struct:
		add("type %s struct", name)
		for f := range u.Fields() {
			if f.Exported() {
				if f.Embedded() {
					add("type %s struct, embedded %s", name, types.TypeString(f.Type(), q))
				} else {
					add("type %s struct, %s %s", name, f.Name(), types.TypeString(f.Type(), q))
				}
			}
		}
	case *types.Interface:
		add("type %s interface", name)
		for m := range u.ExplicitMethods() {
			if m.Exported() {
				add("type %s interface, %s%s", name, m.Name(), strings.TrimPrefix(types.TypeString(m.Type(), q), "func"))
			}
		}
	default:
		if o.IsAlias() {
			add("type %s = %s", name, types.TypeString(o.Type(), q))
		} else {
			add("type %s %s", name, types.TypeString(u, q))
		}
	}
	if n, ok := o.Type().(*types.Named); ok {
		for m := range n.Methods() {
			if m.Exported() {
				sig := m.Type().(*types.Signature)
				recv := types.TypeString(sig.Recv().Type(), q)
				add("method (%s) %s%s", recv, m.Name(), strings.TrimPrefix(types.TypeString(sig, q), "func"))
			}
		}
	}
}

// countNames counts top-level names and methods, as the project counts
// its surface: fields and interface methods are not names of their own.
var memberLine = regexp.MustCompile(`^type [A-Za-z0-9_]+ (struct|interface), `)

func countNames(lines []string) int {
	n := 0
	for _, l := range lines {
		// A struct field or interface method line reads
		// "type T struct, F ..." or "type T interface, M(...)"; every
		// other line is one name, whatever its signature holds.
		if !memberLine.MatchString(l) {
			n++
		}
	}
	return n
}

func fileName(importPath string) string {
	rel := strings.TrimPrefix(importPath, "github.com/lameduck/lameduck/")
	return strings.ReplaceAll(rel, "/", "_") + ".txt"
}

func writeAll(dir string, current map[string][]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, lines := range current {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

// diff returns the lines of b not in a, and of a not in b.
func diff(a, b []string) (added, removed []string) {
	for _, l := range b {
		if !slices.Contains(a, l) {
			added = append(added, l)
		}
	}
	for _, l := range a {
		if !slices.Contains(b, l) {
			removed = append(removed, l)
		}
	}
	return added, removed
}

func show(added, removed []string) string {
	var b strings.Builder
	for _, l := range removed {
		fmt.Fprintf(&b, "  - %s\n", l)
	}
	for _, l := range added {
		fmt.Fprintf(&b, "  + %s\n", l)
	}
	return b.String()
}

// checkChangelog checks that every line added or removed since the last
// release recorded under api/v*/ names an identifier that the CHANGELOG's
// first section mentions. Before the first release there is nothing to
// compare with.
func checkChangelog(root, dir string, current map[string][]string) error {
	releases, _ := filepath.Glob(filepath.Join(dir, "v*"))
	if len(releases) == 0 {
		return nil
	}
	slices.SortFunc(releases, compareVersions)
	last := releases[len(releases)-1]
	log, err := os.ReadFile(filepath.Join(root, "CHANGELOG.md"))
	if err != nil {
		return err
	}
	section := firstSection(string(log))
	var errs []error
	for name, lines := range current {
		old, err := readLines(filepath.Join(last, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		added, removed := diff(old, lines)
		for _, l := range append(added, removed...) {
			if id := identifier(l); !strings.Contains(section, id) {
				errs = append(errs, fmt.Errorf("api/%s changed since %s but CHANGELOG.md's first section does not mention %s: %s",
					name, filepath.Base(last), id, l))
			}
		}
	}
	return errors.Join(errs...)
}

// firstSection is the CHANGELOG from its first "## " heading to the next.
func firstSection(s string) string {
	_, rest, ok := strings.Cut(s, "\n## ")
	if !ok {
		return s
	}
	sec, _, _ := strings.Cut(rest, "\n## ")
	return sec
}

// identifier is the name an API line is about: a method's or field's own
// name, else the top-level name.
func identifier(line string) string {
	if rest, ok := strings.CutPrefix(line, "method ("); ok {
		_, after, _ := strings.Cut(rest, ") ")
		name, _, _ := strings.Cut(after, "(")
		return name
	}
	if _, member, ok := strings.Cut(line, ", "); ok {
		member = strings.TrimPrefix(member, "embedded ")
		name, _, _ := strings.Cut(member, " ")
		name, _, _ = strings.Cut(name, "(")
		return name
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return line
	}
	name, _, _ := strings.Cut(f[1], "(")
	return name
}

// compareVersions orders api/vX.Y.Z directories by version.
func compareVersions(a, b string) int {
	var x, y [3]int
	fmt.Sscanf(filepath.Base(a), "v%d.%d.%d", &x[0], &x[1], &x[2])
	fmt.Sscanf(filepath.Base(b), "v%d.%d.%d", &y[0], &y[1], &y[2])
	return slices.Compare(x[:], y[:])
}
