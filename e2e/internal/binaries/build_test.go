package binaries

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseKubernetesMod(t *testing.T) {
	mod := `module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	k8s.io/api v0.0.0
	github.com/x/y v1.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
	github.com/x/y => github.com/x/y v1.0.1
)
`
	goV, godebug, staging := parseKubernetesMod(mod)
	assert.Equal(t, "1.24.0", goV)
	assert.Equal(t, "godebug default=go1.24\n", godebug)
	assert.Equal(t, []string{"k8s.io/api", "k8s.io/sample-controller"}, staging)
}

func TestDockerArchive(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app")
	require.NoError(t, os.WriteFile(src, []byte("#!binary"), 0o755))
	out := filepath.Join(dir, "img.tar")
	require.NoError(t, writeDockerArchive(out, image{ref: "docker.io/x/app:v1", entrypoint: []string{"/bin/app"}, user: "65532", files: map[string]string{"/bin/app": src}}))

	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = b
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	require.NoError(t, json.Unmarshal(files["manifest.json"], &manifest))
	require.Len(t, manifest, 1)
	assert.Equal(t, []string{"docker.io/x/app:v1"}, manifest[0].RepoTags)
	var cfg struct {
		Config struct {
			Entrypoint []string
			User       string
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	require.NoError(t, json.Unmarshal(files[manifest[0].Config], &cfg))
	assert.Equal(t, []string{"/bin/app"}, cfg.Config.Entrypoint)
	assert.Equal(t, "65532", cfg.Config.User)
	layer := files[manifest[0].Layers[0]]
	sum := sha256.Sum256(layer)
	assert.Equal(t, []string{"sha256:" + hex.EncodeToString(sum[:])}, cfg.RootFS.DiffIDs, "diff ID is the layer's digest")

	lr := tar.NewReader(bytes.NewReader(layer))
	names := map[string]int64{}
	for {
		h, err := lr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		names[h.Name] = h.Mode
	}
	assert.Equal(t, int64(0o755), names["bin/app"])
	assert.Contains(t, names, "bin/")
	assert.Equal(t, int64(0o1777), names["tmp/"])
}
