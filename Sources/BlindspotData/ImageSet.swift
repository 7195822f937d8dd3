/// A labelled set of small colour images held as raw uint8 pixels, so a whole data set stays
/// compact (≈ 3 KB per 32×32 image) and is normalised only when a batch is filled.
///
/// Layout: planar per image, N × C × H × W, row-major, channels in RGB order. This is the CIFAR-10
/// binary record layout minus the label byte (Krizhevsky 2009), so records copy in without reshuffling.
public struct ImageSet: Sendable {
    /// A readable name for messages, e.g. "cifar10/train".
    public var name: String
    /// `count * channels * height * width` pixels.
    public var images: [UInt8]
    /// One label per image, each in `0..<numClasses`.
    public var labels: [Int32]
    /// Class names, index = label.
    public var classNames: [String]
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(name: String, images: [UInt8], labels: [Int32], classNames: [String],
                channels: Int = 3, height: Int = 32, width: Int = 32) {
        precondition(images.count == labels.count * channels * height * width,
                     "ImageSet \(name): \(images.count) pixels for \(labels.count) images of \(channels)×\(height)×\(width)")
        self.name = name
        self.images = images
        self.labels = labels
        self.classNames = classNames
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var count: Int { labels.count }
    public var numClasses: Int { classNames.count }
    public var imageSize: Int { channels * height * width }

    /// The images at `indices`, in that order (indices may repeat).
    public func subset(_ indices: [Int]) -> ImageSet {
        let size = imageSize
        var pixels = [UInt8](repeating: 0, count: indices.count * size)
        var newLabels = [Int32](repeating: 0, count: indices.count)
        images.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "subset index \(i) out of 0..<\(count)")
                    (dst.baseAddress! + k * size).update(from: src.baseAddress! + i * size, count: size)
                    newLabels[k] = labels[i]
                }
            }
        }
        return ImageSet(name: name, images: pixels, labels: newLabels, classNames: classNames,
                        channels: channels, height: height, width: width)
    }

    /// Images per class, index = label. Labels outside `0..<numClasses` are not counted
    /// (the loaders reject them, so none occur in a loaded set).
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: numClasses)
        for l in labels where l >= 0 && Int(l) < numClasses { counts[Int(l)] += 1 }
        return counts
    }
}

/// A training and a test set with the normalisation a model trained on them expects.
public struct DataSplit: Sendable {
    public var train: ImageSet
    public var test: ImageSet
    public var normalization: Normalization

    public init(train: ImageSet, test: ImageSet, normalization: Normalization) {
        self.train = train
        self.test = test
        self.normalization = normalization
    }
}

/// Which data set; parsed from a CLI string: "synthetic", "cifar10", "gtsrb".
public enum DatasetKind: String, Sendable, CaseIterable {
    case synthetic, cifar10, gtsrb
}
