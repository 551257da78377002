{
  # CPU-only build of the same addon through node-gyp, for users without CMake or a CUDA
  # toolkit. CMakeLists.txt (cmake-js) is the primary build and adds the CUDA backend.
  "targets": [
    {
      "target_name": "squeeze_excite",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f=>f.endsWith('.cpp')).map(f=>'native/cpu/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/binding').filter(f=>f.endsWith('.cpp')).map(f=>'native/binding/'+f).join(' ')\")",
        "native/cuda/stub.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include",
        "native"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "SQEX_VERSION=\"<!(node -p \"require('./package.json').version\")\"",
        "SQEX_BUILD_SYSTEM=\"node-gyp\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fvisibility=hidden", "-ffp-contract=off"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fvisibility=hidden", "-ffp-contract=off"]
      },
      "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]],
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17", "/O2"] }
      }
    }
  ]
}
