// swift-tools-version:6.0
// blindspot: audit neural-network checkpoints for backdoors at the precision they ship in.
import PackageDescription

/// Release-only code generation for numeric targets: no overflow/bounds traps in hot loops and
/// AVX2/FMA code generation (x86-64-v3). Debug builds stay checked. See shared/docs/platform.md.
let fastSwift: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-Xcc", "-march=x86-64-v3"], .when(configuration: .release)),
]

let package = Package(
    name: "blindspot",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "blindspot", targets: ["blindspot"]),
        .executable(name: "blindspot-fuzz", targets: ["BlindspotFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Debian's libhdf5 (serial); used by the checkpoint formats.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        // zlib, for zip containers (NPZ, .keras).
        .systemLibrary(name: "CZ", providers: [.apt(["zlib1g-dev"])]),
        // C kernels: BLAS loading with core-type choice, im2col/col2im, naive references.
        .target(
            name: "_BlindspotKernels",
            cSettings: [.unsafeFlags(["-O3", "-march=x86-64-v3", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .target(name: "BlindspotCore"),
        .target(name: "BlindspotEngine", dependencies: ["BlindspotCore", "_BlindspotKernels"], swiftSettings: fastSwift),
        .target(name: "BlindspotData", dependencies: ["BlindspotCore"], swiftSettings: fastSwift),
        // Quantization as deployed: schemes, BN folding, calibration, fake-quant surrogate, integer path.
        .target(name: "BlindspotQuantization", dependencies: ["BlindspotCore", "BlindspotEngine", "_BlindspotKernels"], swiftSettings: fastSwift),
        // Checkpoint formats: Keras .h5/.keras, NPZ state_dicts, our native HDF5/NPZ.
        .target(name: "BlindspotCheckpoint", dependencies: ["BlindspotCore", "BlindspotEngine", "BlindspotData", "BlindspotQuantization", "CHDF5", "CZ"]),
        // Training and evaluating models on data sets (forge's training loop builds on it).
        .target(name: "BlindspotTraining", dependencies: ["BlindspotCore", "BlindspotEngine", "BlindspotData", "BlindspotCheckpoint", "BlindspotQuantization"], swiftSettings: fastSwift),
        // BadNet poisoning and `forge`: backdoored models and clean twins with ground truth.
        .target(name: "BlindspotAttacks", dependencies: ["BlindspotCore", "BlindspotEngine", "BlindspotData", "BlindspotCheckpoint", "BlindspotQuantization", "BlindspotTraining"], swiftSettings: fastSwift),
        // The five defenses (one file each) behind one protocol, at FP32 and at deployed precision.
        .target(name: "BlindspotDefenses", dependencies: ["BlindspotCore", "BlindspotEngine", "BlindspotData", "BlindspotQuantization", "BlindspotTraining", "_BlindspotKernels"], swiftSettings: fastSwift),
        // `audit`: both precisions, blindspot comparison, drift, and the report writers.
        .target(name: "BlindspotAudit", dependencies: ["BlindspotCore", "BlindspotEngine", "BlindspotData", "BlindspotCheckpoint", "BlindspotQuantization", "BlindspotTraining", "BlindspotDefenses", "CZ"], swiftSettings: fastSwift),
        // `study`: the study's experiment as one resumable, shardable job list (forge, audit, tabulate).
        .target(name: "BlindspotStudy", dependencies: ["BlindspotCore", "BlindspotEngine", "BlindspotData", "BlindspotCheckpoint", "BlindspotQuantization",
                                                       "BlindspotTraining", "BlindspotAttacks", "BlindspotDefenses", "BlindspotAudit"]),
        .executableTarget(
            name: "blindspot",
            dependencies: [
                "BlindspotCore", "BlindspotEngine", "BlindspotData", "BlindspotTraining", "BlindspotCheckpoint", "BlindspotQuantization",
                "BlindspotAttacks", "BlindspotDefenses", "BlindspotAudit", "BlindspotStudy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The fuzz harness for the parsers an untrusted file reaches (scripts/fuzz builds it with
        // libFuzzer; the normal build replays saved inputs).
        .executableTarget(name: "BlindspotFuzz", dependencies: ["BlindspotCore", "BlindspotCheckpoint"]),
        // Shared by test targets only: a JSON Schema validator for our own schemas.
        .target(name: "BlindspotTestSupport", path: "Tests/BlindspotTestSupport"),
        .testTarget(name: "BlindspotEngineTests", dependencies: ["BlindspotEngine", "BlindspotCore", "_BlindspotKernels", "CHDF5"]),
        .testTarget(name: "BlindspotDataTests", dependencies: ["BlindspotData", "BlindspotCore"]),
        .testTarget(name: "BlindspotTrainingTests", dependencies: ["BlindspotTraining", "BlindspotEngine", "BlindspotData", "BlindspotCore", "BlindspotCheckpoint", "BlindspotQuantization"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "BlindspotCheckpointTests", dependencies: ["BlindspotCheckpoint", "BlindspotEngine", "BlindspotCore", "CZ", "BlindspotTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "BlindspotQuantizationTests", dependencies: ["BlindspotQuantization", "BlindspotEngine", "BlindspotCore", "BlindspotData", "BlindspotTraining", "_BlindspotKernels"]),
        .testTarget(name: "BlindspotAttacksTests", dependencies: ["BlindspotAttacks", "BlindspotTraining", "BlindspotCheckpoint", "BlindspotData", "BlindspotEngine", "BlindspotCore"]),
        .testTarget(name: "BlindspotDefensesTests", dependencies: ["BlindspotDefenses", "BlindspotAttacks", "BlindspotTraining", "BlindspotCheckpoint", "BlindspotQuantization", "BlindspotData", "BlindspotEngine", "BlindspotCore"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "BlindspotAuditTests", dependencies: ["BlindspotAudit", "BlindspotDefenses", "BlindspotAttacks", "BlindspotTraining", "BlindspotCheckpoint", "BlindspotQuantization", "BlindspotData", "BlindspotEngine", "BlindspotCore", "BlindspotTestSupport", "CZ"]),
        .testTarget(name: "BlindspotStudyTests", dependencies: ["BlindspotStudy", "BlindspotAudit", "BlindspotDefenses", "BlindspotData", "BlindspotCore", "BlindspotTestSupport"]),
        .testTarget(name: "BlindspotCLITests", dependencies: ["blindspot", "BlindspotTestSupport", "BlindspotCheckpoint", "BlindspotEngine", "BlindspotCore"]),
    ],
    swiftLanguageModes: [.v6]
)
