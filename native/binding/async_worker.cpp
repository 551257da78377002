#include "binding/async_worker.h"

#include <exception>
#include <new>
#include <string>
#include <utility>

#include "binding/errors.h"
#include "binding/host_staging.h"

namespace sqex::binding {
namespace {

// Runs `work` on the libuv thread pool and settles a promise with its Status (and `settle`).
// `work` and `settle` must own or keep alive everything they touch: see host_staging.h.
class StatusWorker : public Napi::AsyncWorker {
 public:
  StatusWorker(const Napi::Env& env, std::function<Status()> work, Settle settle)
      : Napi::AsyncWorker(env, "squeeze-excite"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        settle_(std::move(settle)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // The handlers allocate nothing: when memory ran out, building a Status message (a std::string)
  // throws std::bad_alloc again, which node-addon-api turns into an uncoded Error("std::bad_alloc").
  // The coded error is made on the calling thread (OnOK) instead.
  void Execute() override {
    try {
      status_ = work_();
    } catch (const std::bad_alloc&) {
      out_of_memory_ = true;
    } catch (const std::exception& e) {
      try {
        status_ = Status::Error(StatusCode::Internal, e.what());
      } catch (...) {
        out_of_memory_ = true;
      }
    } catch (...) {
      try {
        status_ = Status::Error(StatusCode::Internal, "unknown native exception");
      } catch (...) {
        out_of_memory_ = true;
      }
    }
  }
  // node-addon-api calls OnOK through a wrapper that catches only Napi::Error (a std::bad_alloc
  // from building a message would reach std::terminate, and a Napi::Error would be thrown as an
  // uncaught exception instead of rejecting): every outcome settles the promise.
  // A deferred is concluded once: when Resolve/Reject itself threw (V8 refused it, e.g. a worker
  // being terminated), Node has already released it, so the handlers below try nothing more.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      Complete(env);
    } catch (const Napi::Error& e) {
      if (!concluding_) Conclude([&] { deferred_.Reject(e.Value()); });
    } catch (const std::bad_alloc&) {
      RejectOutOfMemory(env);
    } catch (const std::exception& e) {
      RejectInternal(env, e.what());
    } catch (...) {
      RejectInternal(env, "unknown native exception");
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // Runs `settle` (one Resolve or Reject) once; a throw from it propagates.
  template <class F>
  void Conclude(F&& settle) {
    concluding_ = true;
    settle();
  }

  // A coded Error made without the C++ heap where it can be (V8's heap only) when even the
  // message of OutOfMemoryError could not be built.
  void RejectOutOfMemory(const Napi::Env& env) {
    if (concluding_) return;
    try {
      Napi::Value oom = OutOfMemoryError(env, "host memory for the call", 0).Value();
      Conclude([&] { deferred_.Reject(oom); });
      return;
    } catch (...) {
    }
    if (concluding_) return;
    napi_value code = nullptr, msg = nullptr, err = nullptr;
    if (napi_create_string_utf8(env, "ERR_SQEX_OUT_OF_MEMORY", NAPI_AUTO_LENGTH, &code) == napi_ok &&
        napi_create_string_utf8(env, "squeeze-excite: out of host memory", NAPI_AUTO_LENGTH, &msg) == napi_ok &&
        napi_create_error(env, code, msg, &err) == napi_ok) {
      try {
        Conclude([&] { deferred_.Reject(err); });
      } catch (...) {
      }
    }
  }

  void RejectInternal(const Napi::Env& env, const char* what) {
    if (concluding_) return;
    try {
      Napi::Value err = Coded(Napi::Error::New(env, std::string("squeeze-excite (native): internal error: ") + what),
                              "ERR_SQEX_INTERNAL").Value();
      Conclude([&] { deferred_.Reject(err); });
    } catch (...) {
      RejectOutOfMemory(env);
    }
  }

  void Complete(const Napi::Env& env) {
    if (out_of_memory_) {
      RejectOutOfMemory(env);
      return;
    }
    if (!status_.ok()) {
      Napi::Value err = ErrorFromStatus(env, status_).Value();
      Conclude([&] { deferred_.Reject(err); });
      return;
    }
    if (!settle_) {
      Conclude([&] { deferred_.Resolve(env.Undefined()); });
      return;
    }
    Napi::Error error;
    Napi::Value result = settle_(env, &error);
    if (!error.IsEmpty()) {
      Conclude([&] { deferred_.Reject(error.Value()); });
    } else {
      Conclude([&] { deferred_.Resolve(result); });
    }
  }

  Napi::Promise::Deferred deferred_;
  std::function<Status()> work_;
  Settle settle_;
  Status status_;
  bool out_of_memory_ = false;
  bool concluding_ = false;  // a Resolve or Reject has been attempted
};

}  // namespace

Napi::Promise Queue(const Napi::Env& env, std::function<Status()> work, Settle settle) {
  auto* worker = new StatusWorker(env, std::move(work), std::move(settle));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Promise QueueStaged(const Napi::Env& env, std::shared_ptr<StagedHostCall> call,
                          std::function<Status(const Weights&, const Tensors&)> work) {
  return Queue(
      env,
      [call, work] {
        Status s = work(call->weights(), call->tensors());
        call->MarkWritten();
        return s;
      },
      [call](const Napi::Env& e, Napi::Error* error) { return call->Settle(e, error); });
}

}  // namespace sqex::binding
