{
  "targets": [
    {
      "target_name": "nsrun",
      "sources": ["native/addon.cc", "native/spawn.cc", "native/child.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden", "-fstack-protector-strong", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    },
    {
      "target_name": "nsrun-init",
      "type": "executable",
      "sources": ["native/init/nsrun_init.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fno-rtti", "-Os", "-Wall", "-Wextra"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "nsrun-supervise",
      "type": "executable",
      "sources": ["native/supervise/nsrun_supervise.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fno-rtti", "-Os", "-Wall", "-Wextra"],
      "ldflags": ["-Wl,--as-needed"]
    }
  ]
}
