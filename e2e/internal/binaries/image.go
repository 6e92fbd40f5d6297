package binaries

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
	"time"
)

// image is a single-layer image made from local files, with no base image
// and no registry.
type image struct {
	ref        string   // e.g. docker.io/lameduck-e2e/http:local
	entrypoint []string // absolute path first
	user       string   // numeric uid[:gid], or "" for root
	files      map[string]string
}

// writeDockerArchive writes img as a docker-archive tarball (the format of
// "docker save", which "ctr images import" reads): manifest.json, the
// image config and one layer. The layer holds the files (mode kept, owned
// by root), their parent directories and a world-writable /tmp.
func writeDockerArchive(out string, img image) error {
	layer, err := layerTar(img.files)
	if err != nil {
		return err
	}
	diffID := sha256.Sum256(layer)
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC(),
		"config": map[string]any{
			"Entrypoint": img.entrypoint,
			"Env":        []string{"PATH=/"},
			"WorkingDir": "/",
			"User":       img.user,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("binaries: image config: %w", err)
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{img.ref}, "Layers": []string{layerName}}})
	if err != nil {
		return fmt.Errorf("binaries: image manifest: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{layerName, layer}, {cfgName, cfgJSON}, {"manifest.json", manifest}} {
		if dir := path.Dir(f.name); dir != "." {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
				return fmt.Errorf("binaries: image: %w", err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			return fmt.Errorf("binaries: image: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("binaries: image: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("binaries: image: %w", err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("binaries: image: %w", err)
	}
	return nil
}

// layerTar returns the uncompressed layer holding files (destination path
// in the image => source path on this machine).
func layerTar(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	epoch := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch}); err != nil {
		return nil, fmt.Errorf("binaries: layer: %w", err)
	}
	for dst, src := range files {
		dst = strings.TrimPrefix(dst, "/")
		for d := path.Dir(dst); d != "."; d = path.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
					return nil, fmt.Errorf("binaries: layer: %w", err)
				}
			}
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("binaries: layer: %w", err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("binaries: layer: %w", err)
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: int64(st.Mode().Perm()), Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("binaries: layer: %w", err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("binaries: layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("binaries: layer: %w", err)
	}
	return buf.Bytes(), nil
}
