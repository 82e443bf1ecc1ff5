// The image operations with OpenCV: imgcodecs (libjpeg-turbo, libpng, ... underneath), imgproc, videoio.
#include "image_ops.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <stdexcept>

namespace masnn::data {

bool opencv_built() { return true; }

namespace image_ops {
namespace {

cv::Mat as_mat(Image& image) {
  return cv::Mat(image.height, image.width, CV_8UC(image.channels), image.pixels.data());
}
cv::Mat as_mat(const Image& image) {
  return cv::Mat(image.height, image.width, CV_8UC(image.channels), const_cast<uint8_t*>(image.pixels.data()));
}

std::vector<float> to_vector(const cv::Mat& grey_float) {
  const cv::Mat m = grey_float.isContinuous() ? grey_float : grey_float.clone();
  return std::vector<float>(m.ptr<float>(), m.ptr<float>() + m.total());
}

// Silences OpenCV's own warnings while a video is opened or read: a file it cannot read gets our message instead.
class QuietOpenCv {
 public:
  QuietOpenCv() : level_(cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT)) {}
  ~QuietOpenCv() { cv::utils::logging::setLogLevel(level_); }

 private:
  cv::utils::logging::LogLevel level_;
};

}  // namespace

Image decode(const uint8_t* data, size_t size, ColorMode mode) {
  const int flags = (mode == ColorMode::RGB ? cv::IMREAD_COLOR : cv::IMREAD_GRAYSCALE) | cv::IMREAD_IGNORE_ORIENTATION;
  cv::Mat decoded;
  try {
    const cv::Mat raw(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(data));
    decoded = cv::imdecode(raw, flags);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(std::string("cannot decode the image (") + e.what() + ")");
  }
  if (decoded.empty() || decoded.depth() != CV_8U)
    throw std::runtime_error("not an image in a format the installed codecs decode (JPEG, PNG, ...)");
  Image out(decoded.rows, decoded.cols, decoded.channels());
  cv::Mat wrapped = as_mat(out);
  if (out.channels == 3)
    cv::cvtColor(decoded, wrapped, cv::COLOR_BGR2RGB);
  else
    decoded.copyTo(wrapped);
  return out;
}

std::vector<uint8_t> encode(const Image& image, const std::string& ext, int jpeg_quality) {
  cv::Mat bgr;
  if (image.channels == 3)
    cv::cvtColor(as_mat(image), bgr, cv::COLOR_RGB2BGR);
  else
    bgr = as_mat(image);
  std::vector<uchar> buffer;
  bool ok = false;
  try {
    ok = cv::imencode(ext, bgr, buffer, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality});
  } catch (const cv::Exception& e) {
    throw std::invalid_argument("encode_image: cannot encode as " + ext + " (" + e.what() + ")");
  }
  if (!ok) throw std::invalid_argument("encode_image: cannot encode as " + ext);
  return std::vector<uint8_t>(buffer.begin(), buffer.end());
}

Image resize(const Image& image, const CropBox& box, int height, int width) {
  const cv::Mat roi = as_mat(image)(cv::Rect(box.left, box.top, box.width, box.height));
  Image out(height, width, image.channels);
  cv::Mat dst = as_mat(out);
  const bool shrink = height <= box.height && width <= box.width;
  cv::resize(roi, dst, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

Image warp_nearest(const Image& image, const std::array<double, 6>& inverse) {
  const cv::Matx23d m(inverse[0], inverse[1], inverse[2], inverse[3], inverse[4], inverse[5]);
  Image out(image.height, image.width, image.channels);
  cv::Mat dst = as_mat(out);
  cv::warpAffine(as_mat(image), dst, m, dst.size(), cv::INTER_NEAREST | cv::WARP_INVERSE_MAP, cv::BORDER_CONSTANT,
                 cv::Scalar::all(0));
  return out;
}

Image viridis(const Image& grey) {
  cv::Mat bgr;
  cv::applyColorMap(as_mat(grey), bgr, cv::COLORMAP_VIRIDIS);
  Image out(grey.height, grey.width, 3);
  cv::Mat rgb = as_mat(out);
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return out;
}

std::vector<float> grey_float(const Image& image, int width, int height) {
  const cv::Mat m = as_mat(image);
  cv::Mat grey;
  if (image.channels == 3)
    cv::cvtColor(m, grey, cv::COLOR_RGB2GRAY);
  else
    grey = m;
  cv::Mat f;
  grey.convertTo(f, CV_32F);
  if (width != image.width || height != image.height) {
    cv::Mat small;
    cv::resize(f, small, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    f = small;
  }
  return to_vector(f);
}

void use_caller_threads() { cv::setNumThreads(0); }

struct VideoFrames::State {
  cv::VideoCapture capture;
  cv::Mat frame, grey, sized, intensity;
};

VideoFrames::VideoFrames(const std::string& path) : state_(std::make_unique<State>()) {
  {
    QuietOpenCv quiet;
    state_->capture.open(path);
  }
  if (!state_->capture.isOpened())
    throw std::runtime_error(path + ": not a video OpenCV's reader can open (its codecs: FFmpeg's as installed, and "
                                    "Motion JPEG AVI)");
}

VideoFrames::~VideoFrames() = default;

double VideoFrames::fps() const { return state_->capture.get(cv::CAP_PROP_FPS); }

bool VideoFrames::next(int width, int height, std::vector<float>& grey, int& frame_width, int& frame_height) {
  State& s = *state_;
  bool got = false;
  {
    QuietOpenCv quiet;
    got = s.capture.read(s.frame);
  }
  if (!got || s.frame.empty()) return false;
  if (s.frame.channels() == 3)
    cv::cvtColor(s.frame, s.grey, cv::COLOR_BGR2GRAY);
  else if (s.frame.channels() == 4)
    cv::cvtColor(s.frame, s.grey, cv::COLOR_BGRA2GRAY);
  else
    s.grey = s.frame;
  if (width > 0 && (s.grey.cols != width || s.grey.rows != height))
    cv::resize(s.grey, s.sized, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  else
    s.sized = s.grey;
  s.sized.convertTo(s.intensity, CV_32F, s.grey.depth() == CV_16U ? 255.0 / 65535.0 : 1.0);
  frame_width = s.intensity.cols;
  frame_height = s.intensity.rows;
  grey = to_vector(s.intensity);
  return true;
}

}  // namespace image_ops
}  // namespace masnn::data
