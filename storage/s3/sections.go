package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// putSections uploads a large body that can be read at any offset (a file)
// as a multipart upload whose parts are sections of the body itself: no
// part is copied into memory, so uploading an export of any size takes a
// few buffers, where the transfer manager reads the first 32 MiB and keeps
// a pool of part buffers. Parts go up Concurrency at a time; a failure
// aborts the upload, so no partial object is ever visible.
func (b *Backend) putSections(ctx context.Context, name string, body io.ReaderAt, n int64) error {
	up, err := b.client.CreateMultipartUpload(ctx, &s3sdk.CreateMultipartUploadInput{
		Bucket: aws.String(b.opts.Bucket), Key: aws.String(name), StorageClass: types.StorageClass(b.opts.StorageClass),
		ServerSideEncryption: types.ServerSideEncryption(b.opts.SSE), SSEKMSKeyId: b.kmsKeyID(),
	})
	if err != nil {
		return err
	}
	abort := func(err error) error {
		_, aerr := b.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3sdk.AbortMultipartUploadInput{
			Bucket: aws.String(b.opts.Bucket), Key: aws.String(name), UploadId: up.UploadId})
		return errors.Join(err, aerr)
	}
	partSize := b.opts.PartSize
	count := int((n + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, count)
	sem := make(chan struct{}, max(1, b.opts.Concurrency))
	errs := make(chan error, count)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range count {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			errs <- ctx.Err()
			continue
		}
		go func() {
			defer func() { <-sem }()
			off := int64(i) * partSize
			size := min(partSize, n-off)
			res, err := b.client.UploadPart(ctx, &s3sdk.UploadPartInput{
				Bucket: aws.String(b.opts.Bucket), Key: aws.String(name), UploadId: up.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), Body: io.NewSectionReader(body, off, size), ContentLength: aws.Int64(size),
			})
			if err != nil {
				cancel()
				errs <- fmt.Errorf("part %d: %w", i+1, err)
				return
			}
			parts[i] = types.CompletedPart{ETag: res.ETag, PartNumber: aws.Int32(int32(i + 1))}
			errs <- nil
		}()
	}
	var first error
	for range count {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return abort(first)
	}
	if _, err := b.client.CompleteMultipartUpload(ctx, &s3sdk.CompleteMultipartUploadInput{
		Bucket: aws.String(b.opts.Bucket), Key: aws.String(name), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return abort(err)
	}
	return nil
}
