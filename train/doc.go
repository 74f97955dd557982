// Package train trains convnet's models with the lecture's recipe: SGD with
// momentum 0.9 and weight decay 5e-4, a learning rate of 1e-2 divided by 10
// when the test accuracy plateaus (or step, cosine and one-cycle schedules
// with torch.optim.lr_scheduler's semantics, and linear warm-up), batches of
// 128 with augmentation, BatchNorm and dropout in training mode, auxiliary
// losses for the models that have them, optional label smoothing.
//
// A run lives in a directory: metrics.jsonl (one JSON object per epoch),
// an atomic checkpoint after every epoch (tensors in safetensors, the rest
// in JSON) from which a run resumes bit for bit, and at the end the final
// weights, the error curves (PNG and SVG, like the ResNet paper's figures)
// and a picture of the first layer's filters.
package train
