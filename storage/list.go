package storage

import (
	"context"
	"errors"
	"io"
	"iter"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// ListOptions are optional settings for List.
type ListOptions struct {
	// WithMetadata fetches each object's attributes (content type, ETag, metadata and
	// ExpiresAt): one extra request per object on Azure and S3, a sidecar read on file.
	WithMetadata bool
}

// List yields every object whose key starts with prefix, in key order, paging through the
// provider as it goes (nothing is collected in memory). Stop early by breaking out of the
// loop. An error ends the sequence: it is yielded once with a zero ObjectInfo.
//
// Listings can contain keys that ValidateKey rejects: temp files stranded by a crash in file
// storage ("….tmp"), or objects written by other tools. They are listed so a retention job
// can remove them with DeleteAny.
func (b *Bucket) List(ctx context.Context, prefix string, opts *ListOptions) iter.Seq2[ObjectInfo, error] {
	if opts == nil {
		opts = &ListOptions{}
	}
	return func(yield func(ObjectInfo, error) bool) {
		if err := validatePrefix(prefix); err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		it := b.bucket.List(&blob.ListOptions{Prefix: prefix})
		for {
			obj, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(ObjectInfo{}, wrap(err, "storage: list %q", prefix))
				return
			}
			if obj.IsDir {
				continue
			}
			info := ObjectInfo{Key: obj.Key, Size: obj.Size, ModTime: obj.ModTime}
			if opts.WithMetadata {
				a, err := b.bucket.Attributes(ctx, obj.Key)
				if gcerrors.Code(err) == gcerrors.NotFound {
					continue // deleted since it was listed
				}
				if err != nil {
					yield(ObjectInfo{}, wrap(err, "storage: attributes of %q", obj.Key))
					return
				}
				info.ContentType, info.ETag, info.Metadata = a.ContentType, a.ETag, a.Metadata
				info.ExpiresAt = parseExpiresAt(a.Metadata)
			}
			if !yield(info, nil) {
				return
			}
		}
	}
}

// DeleteAny removes a listed object by its exact key, without ValidateKey's restrictions,
// so a retention job can remove what List yields even when another tool or a crash put it
// there. A missing object is not an error. Provider drivers still refuse keys that escape the
// bucket. In file storage, as Delete, it removes the directories it leaves empty.
func (b *Bucket) DeleteAny(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("storage: delete: empty key")
	}
	err := b.bucket.Delete(ctx, key)
	if err == nil || gcerrors.Code(err) == gcerrors.NotFound {
		b.removeEmptyDirs(key)
		return nil
	}
	return wrap(err, "storage: delete %q", key)
}
